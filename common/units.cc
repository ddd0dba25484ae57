#include "common/units.h"

#include <array>
#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace qstor {
namespace {

struct Unit {
  std::string_view name;
  uint64_t factor;
};

__extension__ typedef unsigned __int128 u128;

constexpr uint64_t kKi = 1024ULL;
constexpr std::array<Unit, 11> kSizeUnits = {{
    {"B", 1},
    {"KiB", kKi}, {"MiB", kKi * kKi}, {"GiB", kKi * kKi * kKi},
    {"TiB", kKi * kKi * kKi * kKi}, {"PiB", kKi * kKi * kKi * kKi * kKi},
    {"KB", 1000ULL}, {"MB", 1000ULL * 1000}, {"GB", 1000ULL * 1000 * 1000},
    {"TB", 1000ULL * 1000 * 1000 * 1000}, {"PB", 1000ULL * 1000 * 1000 * 1000 * 1000},
}};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::string Quote(std::string_view t) {
  // Keep error messages printable whatever the input holds.
  std::string out = "\"";
  for (char c : t.substr(0, 64)) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f || c == '"' || c == '\\') {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  if (t.size() > 64) out += "...";
  out += "\"";
  return out;
}

}  // namespace

Result<uint64_t> ParseSize(std::string_view text) {
  size_t i = 0;
  uint64_t whole = 0;
  bool any_digit = false;
  while (i < text.size() && IsDigit(text[i])) {
    any_digit = true;
    uint64_t d = static_cast<uint64_t>(text[i] - '0');
    if (whole > (std::numeric_limits<uint64_t>::max() - d) / 10) {
      return Status::InvalidArgument("size " + Quote(text) + " is too large");
    }
    whole = whole * 10 + d;
    ++i;
  }
  // Fraction: kept as numerator/denominator to stay exact.
  uint64_t frac_num = 0, frac_den = 1;
  if (i < text.size() && text[i] == '.') {
    ++i;
    bool frac_digit = false;
    while (i < text.size() && IsDigit(text[i])) {
      frac_digit = true;
      if (frac_den >= 1'000'000'000'000ULL) {
        return Status::InvalidArgument("size " + Quote(text) + " has too many decimals");
      }
      frac_num = frac_num * 10 + static_cast<uint64_t>(text[i] - '0');
      frac_den *= 10;
      ++i;
    }
    if (!frac_digit) {
      return Status::InvalidArgument("size " + Quote(text) + ": expected digits after '.'");
    }
  }
  if (!any_digit) {
    return Status::InvalidArgument("size " + Quote(text) +
                                   " must start with a number, like \"500GiB\" or \"2TB\"");
  }
  if (i < text.size() && text[i] == ' ') ++i;
  std::string_view unit = text.substr(i);
  if (unit.empty()) {
    return Status::InvalidArgument("size " + Quote(text) +
                                   " has no unit; write B, KiB, MiB, GiB, TiB, PiB, KB, MB, GB, TB or PB");
  }
  const Unit* found = nullptr;
  for (const auto& u : kSizeUnits) {
    if (u.name == unit) found = &u;
  }
  if (found == nullptr) {
    std::string hint;
    for (const auto& u : kSizeUnits) {
      if (u.name.size() == unit.size()) {
        bool same = true;
        for (size_t j = 0; j < unit.size(); ++j) {
          if (std::tolower(static_cast<unsigned char>(u.name[j])) !=
              std::tolower(static_cast<unsigned char>(unit[j]))) same = false;
        }
        if (same) hint = fmt::format(" (did you mean \"{}\"?)", u.name);
      }
    }
    return Status::InvalidArgument("size " + Quote(text) + ": unknown unit " + Quote(unit) + hint +
                                   "; use B, KiB, MiB, GiB, TiB, PiB, KB, MB, GB, TB or PB");
  }
  const uint64_t f = found->factor;
  if (whole != 0 && whole > std::numeric_limits<uint64_t>::max() / f) {
    return Status::InvalidArgument("size " + Quote(text) + " is too large");
  }
  uint64_t bytes = whole * f;
  if (frac_num != 0) {
    // frac_num/frac_den * f must be a whole number of bytes. frac_den <= 1e12
    // and f <= 2^50, so compute with 128-bit arithmetic.
    u128 p = static_cast<u128>(frac_num) * f;
    if (p % frac_den != 0) {
      return Status::InvalidArgument("size " + Quote(text) + " is not a whole number of bytes");
    }
    u128 add = p / frac_den;
    if (add > std::numeric_limits<uint64_t>::max() - bytes) {
      return Status::InvalidArgument("size " + Quote(text) + " is too large");
    }
    bytes += static_cast<uint64_t>(add);
  }
  if (bytes == 0) {
    return Status::InvalidArgument("size " + Quote(text) + " must be greater than zero");
  }
  return bytes;
}

std::string FormatSizeShort(uint64_t bytes) {
  std::string s = FormatSize(bytes);
  return s.substr(0, s.find(" ("));
}

std::string FormatSize(uint64_t bytes) {
  static constexpr std::array<std::string_view, 6> names = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  size_t idx = 0;
  uint64_t v = bytes;
  while (idx + 1 < names.size() && v != 0 && v % 1024 == 0) {
    v /= 1024;
    ++idx;
  }
  if (v < 10240 || idx + 1 == names.size()) {
    return fmt::format("{} {}", v, names[idx]);
  }
  // Not a round binary size: show two decimals in the largest fitting binary
  // unit, led by the round decimal form when there is one ("2 TB (1.82 TiB)")
  // and otherwise followed by the exact byte count.
  size_t u = 0;
  double d = static_cast<double>(bytes);
  while (u + 1 < names.size() && d >= 1024.0) {
    d /= 1024.0;
    ++u;
  }
  static constexpr std::array<std::string_view, 6> dec = {"B", "KB", "MB", "GB", "TB", "PB"};
  size_t di = 0;
  uint64_t dv = bytes;
  while (di + 1 < dec.size() && dv % 1000 == 0) {
    dv /= 1000;
    ++di;
  }
  if (di > 0 && dv < 10000) {
    return fmt::format("{} {} ({:.2f} {})", dv, dec[di], d, names[u]);
  }
  return fmt::format("{:.2f} {} ({} bytes)", d, names[u], bytes);
}

Result<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  size_t i = 0;
  uint64_t n = 0;
  while (i < text.size() && IsDigit(text[i])) {
    if (n > 1'000'000'000ULL) {
      return Status::InvalidArgument("duration " + Quote(text) + " is too large");
    }
    n = n * 10 + static_cast<uint64_t>(text[i] - '0');
    ++i;
  }
  if (i == 0) {
    return Status::InvalidArgument("duration " + Quote(text) +
                                   " must be an integer and a unit, like \"30s\" or \"15m\"");
  }
  std::string_view unit = text.substr(i);
  uint64_t ms;
  if (unit == "ms") ms = 1;
  else if (unit == "s") ms = 1000;
  else if (unit == "m") ms = 60'000;
  else if (unit == "h") ms = 3'600'000;
  else if (unit == "d") ms = 86'400'000;
  else {
    return Status::InvalidArgument("duration " + Quote(text) + ": unknown unit " + Quote(unit) +
                                   "; use ms, s, m, h or d");
  }
  return std::chrono::milliseconds(static_cast<int64_t>(n * ms));
}

std::string FormatDuration(std::chrono::milliseconds d) {
  int64_t ms = d.count();
  if (ms != 0 && ms % 86'400'000 == 0) return fmt::format("{}d", ms / 86'400'000);
  if (ms != 0 && ms % 3'600'000 == 0) return fmt::format("{}h", ms / 3'600'000);
  if (ms != 0 && ms % 60'000 == 0) return fmt::format("{}m", ms / 60'000);
  if (ms != 0 && ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
}

}  // namespace qstor
