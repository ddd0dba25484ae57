#include "reconciler/qr.h"

#include <fcntl.h>
#include <qrencode.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace qstor::reconciler {
namespace {

constexpr size_t kMaxBytes = 2953;

void PutBe32(std::string& s, uint32_t v) {
  s.push_back(static_cast<char>(v >> 24));
  s.push_back(static_cast<char>(v >> 16));
  s.push_back(static_cast<char>(v >> 8));
  s.push_back(static_cast<char>(v));
}

void PngChunk(std::string& out, const char type[4], const std::string& data) {
  PutBe32(out, static_cast<uint32_t>(data.size()));
  std::string body(type, 4);
  body += data;
  out += body;
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()));
  PutBe32(out, static_cast<uint32_t>(crc));
}

}  // namespace

Result<QrCode> EncodeQr(std::string_view payload) {
  if (payload.empty()) return Status::InvalidArgument("qr: empty payload");
  if (payload.size() > kMaxBytes) {
    return Status::InvalidArgument("qr: payload is " + std::to_string(payload.size()) +
                                   " bytes; a QR code (version 40, level L, byte mode) holds at "
                                   "most 2953");
  }
  QRcode* qr = QRcode_encodeData(static_cast<int>(payload.size()),
                                 reinterpret_cast<const unsigned char*>(payload.data()), 0,
                                 QR_ECLEVEL_L);
  if (qr == nullptr) {
    return Status::Internal(std::string("qr: libqrencode failed: ") + std::strerror(errno));
  }
  QrCode code;
  code.version = qr->version;
  code.width = qr->width;
  size_t n = static_cast<size_t>(qr->width) * static_cast<size_t>(qr->width);
  code.modules.resize(n);
  for (size_t i = 0; i < n; ++i) code.modules[i] = qr->data[i] & 1;
  QRcode_free(qr);
  return code;
}

std::string RenderTerminal(const QrCode& code, const TerminalStyle& style) {
  const int q = std::max(0, style.quiet_zone);
  const int size = code.width + 2 * q;
  auto dark = [&](int x, int y) {
    x -= q;
    y -= q;
    if (x < 0 || y < 0 || x >= code.width || y >= code.width) return false;
    return code.dark(x, y);
  };
  // With colours, the foreground (black) draws dark modules. Without, the
  // terminal's foreground is assumed light on a dark background, so the
  // glyphs draw the light modules instead.
  const bool ink_is_dark = style.ansi_colors;
  std::string out;
  for (int y = 0; y < size; y += 2) {
    if (style.ansi_colors) out += "\x1b[30;107m";
    for (int x = 0; x < size; ++x) {
      bool top = dark(x, y);
      bool bottom = y + 1 < size ? dark(x, y + 1) : false;
      if (!ink_is_dark) {
        top = !top;
        bottom = y + 1 < size ? !bottom : false;
      }
      if (top && bottom) {
        out += "\u2588";
      } else if (top) {
        out += "\u2580";
      } else if (bottom) {
        out += "\u2584";
      } else {
        out += " ";
      }
    }
    if (style.ansi_colors) out += "\x1b[0m";
    out += "\n";
  }
  return out;
}

Result<std::string> RenderPng(const QrCode& code, int scale, int quiet_zone) {
  if (scale < 1 || scale > 64 || quiet_zone < 0 || quiet_zone > 64) {
    return Status::InvalidArgument("qr: png scale must be 1..64 and quiet zone 0..64");
  }
  const int modules = code.width + 2 * quiet_zone;
  const uint32_t px = static_cast<uint32_t>(modules * scale);
  std::string raw;
  raw.reserve(static_cast<size_t>(px) * (px + 1));
  for (uint32_t y = 0; y < px; ++y) {
    raw.push_back('\0');  // filter type: none
    int my = static_cast<int>(y) / scale - quiet_zone;
    for (uint32_t x = 0; x < px; ++x) {
      int mx = static_cast<int>(x) / scale - quiet_zone;
      bool d = mx >= 0 && my >= 0 && mx < code.width && my < code.width && code.dark(mx, my);
      raw.push_back(d ? '\0' : static_cast<char>(0xff));
    }
  }
  uLongf zlen = compressBound(static_cast<uLong>(raw.size()));
  std::string z(zlen, '\0');
  if (compress2(reinterpret_cast<Bytef*>(z.data()), &zlen,
                reinterpret_cast<const Bytef*>(raw.data()), static_cast<uLong>(raw.size()),
                Z_BEST_COMPRESSION) != Z_OK) {
    return Status::Internal("qr: zlib compress2 failed");
  }
  z.resize(zlen);
  std::string png("\x89PNG\r\n\x1a\n", 8);
  std::string ihdr;
  PutBe32(ihdr, px);
  PutBe32(ihdr, px);
  ihdr.push_back(8);  // bit depth
  ihdr.push_back(0);  // colour type: grayscale
  ihdr.push_back(0);  // compression
  ihdr.push_back(0);  // filter
  ihdr.push_back(0);  // interlace
  PngChunk(png, "IHDR", ihdr);
  PngChunk(png, "IDAT", z);
  PngChunk(png, "IEND", "");
  return png;
}

std::string RenderSvg(const QrCode& code, int scale, int quiet_zone) {
  const int size = (code.width + 2 * quiet_zone) * scale;
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(size) +
         "\" height=\"" + std::to_string(size) + "\" viewBox=\"0 0 " +
         std::to_string(code.width + 2 * quiet_zone) + " " +
         std::to_string(code.width + 2 * quiet_zone) + "\" shape-rendering=\"crispEdges\">\n";
  out += "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n<path fill=\"#000000\" d=\"";
  for (int y = 0; y < code.width; ++y) {
    for (int x = 0; x < code.width; ++x) {
      if (!code.dark(x, y)) continue;
      // Runs of dark modules on a row become one rectangle.
      int run = 1;
      while (x + run < code.width && code.dark(x + run, y)) ++run;
      out += "M" + std::to_string(x + quiet_zone) + " " + std::to_string(y + quiet_zone) + "h" +
             std::to_string(run) + "v1h-" + std::to_string(run) + "z";
      x += run - 1;
    }
  }
  out += "\"/>\n</svg>\n";
  return out;
}

}  // namespace qstor::reconciler
