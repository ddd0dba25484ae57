#include "devnet/topology.h"

#include <map>
#include <random>
#include <string>

#include <fmt/format.h>

namespace qstor::devnet {
namespace {

struct City {
  const char* city;
  double lat, lon;
};
struct Country {
  const char* name;
  const char* region;
  std::vector<City> cities;
};

// Order matters: the first six are the default devnet's countries.
const std::vector<Country>& Countries() {
  static const std::vector<Country> k = {
      {"Belgium", "Europe", {{"Ghent", 51.05, 3.72}, {"Brussels", 50.85, 4.35}, {"Antwerp", 51.22, 4.40}}},
      {"Egypt", "Africa", {{"Cairo", 30.04, 31.24}, {"Alexandria", 31.20, 29.92}}},
      {"United States", "Americas", {{"New York", 40.71, -74.01}, {"Austin", 30.27, -97.74}, {"Seattle", 47.61, -122.33}}},
      {"Japan", "Asia", {{"Tokyo", 35.68, 139.69}, {"Osaka", 34.69, 135.50}}},
      {"Brazil", "Americas", {{"Sao Paulo", -23.55, -46.63}, {"Rio de Janeiro", -22.91, -43.17}}},
      {"Germany", "Europe", {{"Berlin", 52.52, 13.40}, {"Frankfurt", 50.11, 8.68}, {"Munich", 48.14, 11.58}}},
      {"Netherlands", "Europe", {{"Amsterdam", 52.37, 4.90}, {"Rotterdam", 51.92, 4.48}}},
      {"Tanzania", "Africa", {{"Dar es Salaam", -6.79, 39.21}, {"Arusha", -3.37, 36.68}}},
      {"India", "Asia", {{"Mumbai", 19.08, 72.88}, {"Bangalore", 12.97, 77.59}}},
      {"Canada", "Americas", {{"Toronto", 43.65, -79.38}, {"Vancouver", 49.28, -123.12}}},
      {"Australia", "Oceania", {{"Sydney", -33.87, 151.21}, {"Melbourne", -37.81, 144.96}}},
      {"Finland", "Europe", {{"Helsinki", 60.17, 24.94}}},
      {"Switzerland", "Europe", {{"Zurich", 47.38, 8.54}, {"Geneva", 46.20, 6.14}}},
      {"Singapore", "Asia", {{"Singapore", 1.35, 103.82}}},
      {"Kenya", "Africa", {{"Nairobi", -1.29, 36.82}}},
      {"Austria", "Europe", {{"Vienna", 48.21, 16.37}}},
      {"Spain", "Europe", {{"Madrid", 40.42, -3.70}, {"Barcelona", 41.39, 2.17}}},
      {"United Kingdom", "Europe", {{"London", 51.51, -0.13}, {"Manchester", 53.48, -2.24}}},
  };
  return k;
}

constexpr uint64_t kTB = 1000ull * 1000 * 1000 * 1000;

}  // namespace

Topology GenerateTopology(uint64_t seed, uint32_t node_count, int64_t now_unix) {
  Topology t;
  std::mt19937_64 rng(seed);
  const auto& countries = Countries();
  // With few nodes use 6 countries so every country gets at least two nodes.
  size_t n_countries = node_count <= 12 ? std::min<size_t>(6, countries.size()) : countries.size();
  std::map<size_t, uint32_t> country_count;   // nodes placed per country
  std::map<size_t, uint32_t> current_farm;    // country -> farm id
  std::map<size_t, uint32_t> farm_fill;       // country -> nodes in its current farm
  for (uint32_t i = 0; i < node_count; ++i) {
    size_t ci = i % n_countries;
    const Country& c = countries[ci];
    uint32_t k = country_count[ci]++;
    const City& city = c.cities[k % c.cities.size()];
    if (!current_farm.count(ci) || farm_fill[ci] >= 4) {
      grid::Farm f;
      f.farm_id = uint32_t(t.farms.size() + 1);
      f.name = fmt::format("{}-farm-{}", c.cities[0].city, f.farm_id);
      for (auto& ch : f.name) {
        if (ch == ' ') ch = '-';
      }
      f.twin_id = 1000 + f.farm_id;
      f.certification = (rng() % 3 == 0) ? "Gold" : "NotCertified";
      f.stellar_address = fmt::format("GDEVNETFARM{:06d}", f.farm_id);
      t.farms.push_back(f);
      current_farm[ci] = f.farm_id;
      farm_fill[ci] = 0;
    }
    ++farm_fill[ci];
    grid::Node n;
    n.node_id = i + 1;
    n.farm_id = current_farm[ci];
    n.farm_name = t.farms[n.farm_id - 1].name;
    n.twin_id = 100000 + n.node_id;
    // Small deterministic jitter so nodes of one city are not on one point.
    double jlat = double(rng() % 1000) / 20000.0 - 0.025;
    double jlon = double(rng() % 1000) / 20000.0 - 0.025;
    n.location = {c.name, city.city, c.region, city.lat + jlat, city.lon + jlon};
    n.status = "up";
    n.healthy = true;
    n.certification = (rng() % 4 == 0) ? "Certified" : "Diy";
    n.total.cru = 8 + 4 * (rng() % 8);
    n.total.mru = (16ull + 16 * (rng() % 8)) << 30;
    n.total.hru = (2 + rng() % 15) * kTB;
    n.total.sru = (500 + 500 * (rng() % 4)) * 1000ull * 1000 * 1000;
    n.created = now_unix - int64_t(86400 * (30 + rng() % 700));
    n.updated_at = now_unix;
    n.uptime = int64_t(3600 * (1 + rng() % 2000));
    n.rentable = false;
    n.price_usd = double(20 + rng() % 60);
    t.nodes.push_back(n);
  }
  return t;
}

}  // namespace qstor::devnet
