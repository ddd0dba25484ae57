// Integers out of JSON that came from a file or a peer (state and plan
// files, control attributes, replies). nlohmann's get<uint64_t>() converts
// whatever number it finds with a cast: a float like 1e300 is undefined
// behaviour, -1 wraps to 2^64-1, 2^40 into a uint32_t is silently cut.
// JsonInteger accepts exactly the integers T holds, nothing else.
#pragma once

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>

#include <nlohmann/json.hpp>

namespace qstor {

// True and *out = the value when `v` is an integer (not a float, not a
// bool, not a string) in T's range; false and *out untouched otherwise.
template <typename T>
bool JsonInteger(const nlohmann::json& v, T* out) {
  static_assert(std::is_integral_v<T> && !std::is_same_v<T, bool>);
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<T>::max())) return false;
    *out = static_cast<T>(u);
    return true;
  }
  if (v.is_number_integer()) {
    const int64_t i = v.get<int64_t>();
    if constexpr (std::is_unsigned_v<T>) {
      if (i < 0 || static_cast<uint64_t>(i) > static_cast<uint64_t>(std::numeric_limits<T>::max())) {
        return false;
      }
    } else {
      if (i < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
          i > static_cast<int64_t>(std::numeric_limits<T>::max())) {
        return false;
      }
    }
    *out = static_cast<T>(i);
    return true;
  }
  return false;
}

// The same, throwing std::invalid_argument ("<what>: not an integer in
// range") for parsers that collect errors with one try/catch.
template <typename T>
T JsonIntegerOrThrow(const nlohmann::json& v, const std::string& what) {
  T out{};
  if (!JsonInteger(v, &out)) {
    throw std::invalid_argument(what + ": " + v.dump().substr(0, 40) +
                                " is not an integer in the range of its field");
  }
  return out;
}

}  // namespace qstor
