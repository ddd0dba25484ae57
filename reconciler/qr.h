// QR codes for signing batches and top-ups: encode bytes with libqrencode
// (version chosen automatically, error correction level L, 8-bit byte mode)
// and render them for a terminal (UTF-8 half blocks), as PNG and as SVG.
//
// Renderings always include the quiet zone (4 modules by default, as ISO/IEC
// 18004 asks). Dark modules are dark and light modules light in every
// output; in the terminal this is forced with ANSI colours (black on bright
// white) so the code reads the same on dark and light themes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/file_util.h"
#include "common/status.h"

namespace qstor::reconciler {

struct QrCode {
  int version = 0;               // 1..40
  int width = 0;                 // modules per side (17 + 4 * version)
  std::vector<uint8_t> modules;  // width * width, row-major, 1 = dark
  bool dark(int x, int y) const { return modules[static_cast<size_t>(y) * width + x] != 0; }
};

// Encodes `payload` as-is (any bytes) at level L in byte mode. Fails with
// kInvalidArgument when it exceeds 2953 bytes (the version-40-L limit) or is
// empty.
Result<QrCode> EncodeQr(std::string_view payload);

struct TerminalStyle {
  bool ansi_colors = true;  // force black-on-white; false = plain characters
                            // drawn for a dark-background terminal
  int quiet_zone = 4;
};

// Two module rows per text line: U+2580 upper half block, U+2584 lower half
// block, U+2588 full block, space. Every line ends with "\n".
std::string RenderTerminal(const QrCode& code, const TerminalStyle& style = {});

// A grayscale 8-bit PNG, `scale` pixels per module, quiet zone included.
// Written with zlib; checked by decoding with zbarimg in the tests.
Result<std::string> RenderPng(const QrCode& code, int scale = 4, int quiet_zone = 4);

// An SVG document: a white background and one path of dark modules,
// `scale` user units per module.
std::string RenderSvg(const QrCode& code, int scale = 4, int quiet_zone = 4);

// Files are written with qstor::WriteFileAtomic (common/file_util.h).

}  // namespace qstor::reconciler
