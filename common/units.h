// Human units for sizes and durations, as written in manifests and flags.
//
// Sizes: a positive decimal number followed by a unit. Binary units (KiB,
// MiB, GiB, TiB, PiB = powers of 1024) and decimal units (KB, MB, GB, TB,
// PB = powers of 1000) are both understood; "B" is bytes. A space between
// number and unit is allowed. Fractions are allowed if the result is a whole
// number of bytes ("1.5GiB" yes, "0.3B" no). Bare numbers are refused: the
// unit must be explicit so that "500" never means something surprising.
//
// Durations: an integer followed by ms, s, m, h or d ("30s", "15m").
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace qstor {

// Parses a size; the error message says what is wrong with `text`.
Result<uint64_t> ParseSize(std::string_view text);

// Prints a size unambiguously: the largest binary unit that divides it
// exactly ("500 GiB", "1536 MiB"); else a round decimal size with its binary
// value ("2 TB (1.82 TiB)"); else two decimals and the exact byte count
// ("114.98 GiB (123456789012 bytes)").
std::string FormatSize(uint64_t bytes);
// FormatSize's first figure only, for tables: "282 MiB".
std::string FormatSizeShort(uint64_t bytes);

Result<std::chrono::milliseconds> ParseDuration(std::string_view text);
std::string FormatDuration(std::chrono::milliseconds d);

}  // namespace qstor
