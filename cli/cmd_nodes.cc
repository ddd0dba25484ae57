// qstor nodes: which nodes, farms, countries and cities have free capacity,
// before writing spec.locations (the grid proxy on the public networks, the
// devnet's directory on devnet). Read-only; needs no identity.
#include <algorithm>
#include <iostream>
#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "common/units.h"

#if defined(QSTOR_HAVE_RECONCILER) && defined(QSTOR_HAVE_GRID)
#include "cli/session.h"
#include "grid/http_grid.h"
#endif

namespace qstor::cli {

#if defined(QSTOR_HAVE_RECONCILER) && defined(QSTOR_HAVE_GRID)
namespace {

struct NodesCli {
  std::string network = "devnet";
  std::vector<std::string> countries, cities, regions;
  std::vector<uint32_t> farms;
  std::string free;  // minimum free HRU; none when empty
  std::string status = "up";
  std::string by = "node";
  size_t limit = 50;
};

// At most this many nodes are read (memory stays bounded on any grid); the
// output says when there were more.
constexpr size_t kMaxNodes = 20000;

struct Group {
  size_t nodes = 0;
  std::set<uint32_t> farms;
  std::set<std::string> cities;
  uint64_t free = 0;
  uint64_t largest = 0;  // the most free HRU on one node
};

int RunNodes(const Context& ctx, const NodesCli& c) {
  uint64_t min_free = 0;
  if (!c.free.empty()) {
    auto free = ParseSize(c.free);
    if (!free.ok()) return ReportUsage("nodes", "--free: " + free.status().message());
    min_free = *free;
  }
  auto ep = ConnectNetwork(c.network, true);
  if (!ep.ok()) return ReportFailure("nodes", ep.status());
  grid::HttpGrid g(*ep);
  grid::NodeFilter nf;
  if (c.status != "any") nf.status = c.status;
  if (min_free > 0) nf.free_hru = min_free;
  nf.countries = c.countries;
  nf.cities = c.cities;
  nf.regions = c.regions;
  nf.farm_ids = c.farms;
  std::vector<grid::Node> nodes;
  bool truncated = false;
  for (uint32_t page = 1;; page++) {
    grid::PageRequest pr;
    pr.page = page;
    pr.size = 500;
    auto r = g.FindNodes(nf, pr);
    if (!r.ok()) return ReportFailure("nodes", r.status().WithContext("listing nodes"));
    for (auto& n : r->items) nodes.push_back(std::move(n));
    if (nodes.size() >= kMaxNodes) {
      truncated = r->items.size() == pr.size;
      nodes.resize(std::min(nodes.size(), kMaxNodes));
      break;
    }
    if (r->items.size() < pr.size) break;
  }
  std::sort(nodes.begin(), nodes.end(), [](const grid::Node& a, const grid::Node& b) {
    return a.FreeHru() != b.FreeHru() ? a.FreeHru() > b.FreeHru() : a.node_id < b.node_id;
  });

  if (c.by == "node") {
    const size_t shown = std::min(nodes.size(), c.limit);
    if (ctx.global.json) {
      nlohmann::json rows = nlohmann::json::array();
      for (size_t i = 0; i < shown; i++) {
        const auto& n = nodes[i];
        rows.push_back({{"node_id", n.node_id},
                        {"farm_id", n.farm_id},
                        {"farm_name", n.farm_name},
                        {"country", n.location.country},
                        {"city", n.location.city},
                        {"region", n.location.region},
                        {"status", n.status},
                        {"certification", n.certification},
                        {"free_hru_bytes", n.FreeHru()},
                        {"total_hru_bytes", n.total.hru}});
      }
      std::cout << nlohmann::json{{"version", 1},
                                  {"network", c.network},
                                  {"matching", nodes.size()},
                                  {"truncated", truncated},
                                  {"nodes", rows}}
                       .dump()
                << "\n";
      return kExitOk;
    }
    std::cout << fmt::format("{:>6} {:>5}  {:<20} {:<16} {:<8} {:>10}\n", "NODE", "FARM",
                             "COUNTRY", "CITY", "STATUS", "FREE HRU");
    for (size_t i = 0; i < shown; i++) {
      const auto& n = nodes[i];
      std::cout << fmt::format("{:>6} {:>5}  {:<20} {:<16} {:<8} {:>10}\n", n.node_id, n.farm_id,
                               n.location.country.substr(0, 20), n.location.city.substr(0, 16),
                               n.status, FormatSizeShort(n.FreeHru()));
    }
    std::cout << fmt::format("{} node(s) match{}{}.\n", nodes.size(),
                             shown < nodes.size() ? fmt::format("; the {} with the most free "
                                                                "space are shown (--limit)",
                                                                shown)
                                                  : "",
                             truncated ? fmt::format(" (only the first {} were read)", kMaxNodes)
                                       : "");
    return kExitOk;
  }

  // Grouped: by farm, country or city.
  std::map<std::string, Group> groups;
  for (const auto& n : nodes) {
    std::string key = c.by == "farm"      ? std::to_string(n.farm_id)
                      : c.by == "country" ? n.location.country
                                          : n.location.city + ", " + n.location.country;
    Group& gr = groups[key];
    gr.nodes++;
    gr.farms.insert(n.farm_id);
    gr.cities.insert(n.location.city);
    gr.free += n.FreeHru();
    gr.largest = std::max(gr.largest, n.FreeHru());
  }
  std::vector<std::pair<std::string, Group>> rows(groups.begin(), groups.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    return a.second.free != b.second.free ? a.second.free > b.second.free : a.first < b.first;
  });
  if (ctx.global.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& [key, gr] : rows) {
      nlohmann::json r{{"nodes", gr.nodes},
                       {"farms", gr.farms.size()},
                       {"free_hru_bytes", gr.free},
                       {"largest_free_hru_bytes", gr.largest}};
      r[c.by] = c.by == "farm" ? nlohmann::json(std::stoul(key)) : nlohmann::json(key);
      out.push_back(r);
    }
    std::cout << nlohmann::json{{"version", 1},
                                {"network", c.network},
                                {"by", c.by},
                                {"matching", nodes.size()},
                                {"truncated", truncated},
                                {"groups", out}}
                     .dump()
              << "\n";
    return kExitOk;
  }
  const std::string head = c.by == "farm" ? "FARM" : c.by == "country" ? "COUNTRY" : "CITY";
  std::cout << fmt::format("{:<28} {:>6} {:>6} {:>12} {:>14}\n", head, "NODES", "FARMS",
                           "FREE HRU", "LARGEST NODE");
  for (const auto& [key, gr] : rows) {
    std::cout << fmt::format("{:<28} {:>6} {:>6} {:>12} {:>14}\n", key.substr(0, 28), gr.nodes,
                             gr.farms.size(), FormatSizeShort(gr.free), FormatSizeShort(gr.largest));
  }
  std::cout << fmt::format("{} node(s) in {} {}(s){}. In a manifest: spec.locations.select: "
                           "[{{{}: ...}}]\n",
                           nodes.size(), rows.size(), c.by,
                           truncated ? fmt::format(" (only the first {} were read)", kMaxNodes)
                                     : "",
                           c.by);
  return kExitOk;
}

}  // namespace

void RegisterNodes(CLI::App& app, Context& ctx) {
  auto c = std::make_shared<NodesCli>();
  CLI::App* cmd = app.add_subcommand(
      "nodes",
      "Find nodes, farms, countries and cities with free capacity (before writing "
      "spec.locations): the grid proxy on the public networks, the devnet's directory on devnet");
  cmd->add_option("--network", c->network, "Grid network")
      ->check(CLI::IsMember({"devnet", "main", "test", "qa", "dev"}))
      ->capture_default_str();
  cmd->add_option("--country", c->countries, "Only nodes in this country (repeatable)");
  cmd->add_option("--city", c->cities, "Only nodes in this city (repeatable)");
  cmd->add_option("--region", c->regions, "Only nodes in this region, e.g. Europe (repeatable)");
  cmd->add_option("--farm", c->farms, "Only nodes of this farm id (repeatable)");
  cmd->add_option("--free", c->free, "Only nodes with at least this much free HDD (e.g. 100GiB)");
  cmd->add_option("--status", c->status, "Node status: up, down, standby or any")
      ->check(CLI::IsMember({"up", "down", "standby", "any"}))
      ->capture_default_str();
  cmd->add_option("--by", c->by, "One row per node, or per farm, country or city")
      ->check(CLI::IsMember({"node", "farm", "country", "city"}))
      ->capture_default_str();
  cmd->add_option("--limit", c->limit, "With --by node: show at most this many (most free first)")
      ->check(CLI::Range(size_t{1}, kMaxNodes))
      ->capture_default_str();
  cmd->callback([&ctx, c] { ctx.exit_code = RunNodes(ctx, *c); });
}

#else

void RegisterNodes(CLI::App& app, Context& ctx) {
  AddNotBuilt(app, ctx, "nodes", "Find nodes with free capacity", "issue 18, grid client");
}

#endif

}  // namespace qstor::cli
