#include "reconciler/connect.h"

#include <algorithm>

#include <cctype>
#include <filesystem>
#include <iostream>
#include <thread>

#include <fmt/format.h>

#include "common/file_util.h"
#include "common/units.h"
#include "grid/crypto.h"
#include "grid/types.h"
#include "reconciler/qr.h"

namespace qstor::reconciler {

using nlohmann::json;

namespace {

constexpr const char* kUriPrefix = "threebot://signandpay/#";

std::string ChunkName(const ConnectRequest& r) {
  return fmt::format("chunk {} of {} ({})", r.chunk, r.chunks, r.purpose);
}

}  // namespace

std::string PurposeSlug(const std::string& purpose) {
  std::string out;
  for (char ch : purpose) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (std::isalnum(c)) {
      out += static_cast<char>(std::tolower(c));
    } else if (!out.empty() && out.back() != '-') {
      out += '-';
    }
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "sign" : out;
}

ConnectSigner::ConnectSigner(grid::HttpGrid& relay, ConnectOptions options)
    : relay_(relay), opt_(std::move(options)) {}

Status ConnectSigner::FundWithFirstRequest(uint64_t topup_units, uint64_t need_units) {
  if (topup_units == 0) return Status::InvalidArgument("connect: a top-up of 0 TFT");
  topup_units_ = topup_units;
  need_units_ = need_units;
  return Status::OK();
}

// The tail every failure of a chunk ends with: what state the grid is in and
// what to do.
std::string ConnectSigner::NothingSubmitted(const ConnectRequest& r) const {
  return fmt::format("nothing of chunk {} was submitted; run `{}` again", r.chunk, opt_.rerun);
}

Result<uint32_t> ConnectSigner::TwinId() {
  if (twin_id_ != 0) return twin_id_;
  auto twin = relay_.GetTwinByPublicKey(opt_.public_key_hex);
  if (!twin.ok()) {
    return twin.status().WithContext("connect: looking up the twin of " + opt_.public_key_hex);
  }
  twin_id_ = twin->twin_id;
  return twin_id_;
}

Result<ConnectRequest> ConnectSigner::Show(const SignRequest& req, uint64_t payment_units) {
  auto twin = TwinId();
  if (!twin.ok()) return twin.status();
  json body{{"twin_id", *twin}, {"data_to_sign", json::array({req.to_sign})}};
  if (payment_units > 0) body["amount"] = payment_units;
  auto answer = relay_.Call("POST", "/api/signandpay", body.dump());
  if (!answer.ok()) return answer.status().WithContext("asking the sign-and-pay relay");
  ConnectRequest r;
  r.chunk = req.chunk;
  r.chunks = req.chunks;
  r.scan = req.scan;
  r.scans = req.scans;
  r.purpose = req.purpose;
  r.payment_units = payment_units;
  if (!answer->is_object() || !answer->contains("uuid") || !(*answer)["uuid"].is_string() ||
      !answer->contains("url") || !(*answer)["url"].is_string()) {
    return Status::Protocol("sign-and-pay relay: expected {uuid, url, qr}, got " +
                            answer->dump().substr(0, 200));
  }
  r.uuid = (*answer)["uuid"].get<std::string>();
  r.uri = kUriPrefix + (*answer)["url"].get<std::string>();
  if (answer->contains("qr") && (*answer)["qr"].is_string() &&
      (*answer)["qr"].get<std::string>() != r.uri) {
    return Status::Protocol(fmt::format("sign-and-pay relay: its qr \"{}\" is not {}{}",
                                        (*answer)["qr"].get<std::string>(), kUriPrefix,
                                        (*answer)["url"].get<std::string>()));
  }
  auto qr = EncodeQr(r.uri);
  if (!qr.ok()) return qr.status().WithContext("the QR code of " + ChunkName(r));

  // Files: the same code as PNG and SVG, for another screen or a printer.
  if (opt_.qr_dir.empty()) return Status::InvalidArgument("connect: no directory for QR files");
  std::error_code ec;
  std::filesystem::create_directories(opt_.qr_dir, ec);
  if (ec) {
    return Status::IOError(fmt::format("creating {}: {}", opt_.qr_dir, ec.message()));
  }
  std::filesystem::permissions(opt_.qr_dir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, ec);
  std::string base =
      fmt::format("{}/{}-chunk-{}", opt_.qr_dir, PurposeSlug(req.purpose), req.chunk);
  r.png_path = base + ".png";
  r.svg_path = base + ".svg";
  auto png = RenderPng(*qr, 8);
  if (!png.ok()) return png.status().WithContext("rendering " + r.png_path);
  QSTOR_RETURN_IF_ERROR(WriteFileAtomic(r.png_path, *png, 0600));
  QSTOR_RETURN_IF_ERROR(WriteFileAtomic(r.svg_path, RenderSvg(*qr, 8), 0600));

  std::ostream& out = opt_.out ? *opt_.out : std::cout;
  if (opt_.json) {
    json e{{"type", "sign_request"},  {"chunk", r.chunk},       {"chunks", r.chunks},
           {"purpose", r.purpose},    {"uuid", r.uuid},         {"uri", r.uri},
           {"png", r.png_path},       {"svg", r.svg_path},      {"payment_units", payment_units},
           {"timeout_ms", opt_.timeout.count()}};
    if (r.scan > 0) {
      e["scan"] = r.scan;
      e["scans"] = std::max(r.scan, r.scans);
    }
    out << e.dump() << "\n" << std::flush;
  } else {
    if (r.scan == 1 && r.scans > 0) {
      out << fmt::format("\nThis needs {} scan{} with the ThreeFold Connect app (more only if a "
                         "node fails and its slot is placed again).\n",
                         r.scans, r.scans == 1 ? "" : "s");
    }
    std::string scan;
    if (r.scan > 0 && r.scans > 0) {
      scan = r.scan <= r.scans ? fmt::format("Scan {} of {}: s", r.scan, r.scans)
                               : fmt::format("Scan {} (one more than planned: a node failed): s",
                                             r.scan);
    } else {
      scan = "S";
    }
    out << fmt::format("\n{}ign chunk {} of {} ({}) with the ThreeFold Connect app: scan this "
                       "code{}.\n",
                       scan, r.chunk, r.chunks, r.purpose,
                       payment_units > 0
                           ? fmt::format("; the app also pays {} to the bridge for twin {} "
                                         "(the balance is short of what this apply needs)",
                                         grid::FormatTft(payment_units), *twin)
                           : "");
    if (opt_.devnet_hint) {
      out << "(On the devnet, play the app with `qstor devnet approve '" << r.uri << "'`.)\n";
    }
    TerminalStyle style;
    style.ansi_colors = opt_.ansi_colors;
    out << "\n" << RenderTerminal(*qr, style) << "\n";
    out << r.uri << "\n";
    out << fmt::format("The same code: {} and {}\n", r.png_path, r.svg_path);
    out << fmt::format("Waiting up to {} for the app to sign chunk {} of {}...\n",
                       FormatDuration(opt_.timeout), r.chunk, r.chunks)
        << std::flush;
  }
  return r;
}

Result<json> ConnectSigner::WaitForAnswer(const ConnectRequest& r) {
  auto deadline = std::chrono::steady_clock::now() + opt_.timeout;
  std::string last_error;
  while (true) {
    if (opt_.interrupted && opt_.interrupted()) {
      return Status::Cancelled(fmt::format("interrupted while waiting for the app to sign {}; {}",
                                           ChunkName(r), NothingSubmitted(r)));
    }
    auto got = relay_.Call("GET", "/api/" + r.uuid);
    if (got.ok()) {
      std::string state = got->is_object() ? got->value("State", "") : "";
      if (state == "approved") {
        if (!got->contains("Response") || !(*got)["Response"].is_object()) {
          return Status::Protocol(fmt::format(
              "sign-and-pay relay: request {} is approved but has no Response; {}", r.uuid,
              NothingSubmitted(r)));
        }
        return (*got)["Response"];
      }
      if (state != "pending" && !state.empty()) {
        // The app (or the relay) ended the request without a signature:
        // rejected, expired, failed...
        std::string why;
        if (got->contains("Error") && (*got)["Error"].is_string()) {
          why = ": " + (*got)["Error"].get<std::string>();
        }
        return Status::PermissionDenied(fmt::format(
            "the app did not sign {}: the request {} is {}{}; {}", ChunkName(r), r.uuid, state,
            why, NothingSubmitted(r)));
      }
      if (state.empty()) {
        return Status::Protocol(fmt::format("sign-and-pay relay: request {} has no State; {}",
                                            r.uuid, NothingSubmitted(r)));
      }
      last_error.clear();
    } else if (got.status().code() == Status::Code::kNotFound) {
      return Status::NotFound(fmt::format("the sign-and-pay relay no longer knows request {} of "
                                          "{}; {}",
                                          r.uuid, ChunkName(r), NothingSubmitted(r)));
    } else {
      last_error = got.status().message();  // transient: keep asking until the deadline
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::Timeout(fmt::format(
          "the app did not sign {} within {} (spec.payment.timeout){}; {}", ChunkName(r),
          FormatDuration(opt_.timeout),
          last_error.empty() ? "" : " (last answer from the relay: " + last_error + ")",
          NothingSubmitted(r)));
    }
    std::this_thread::sleep_for(opt_.poll_interval);
  }
}

Result<std::string> ConnectSigner::Sign(const SignRequest& req) {
  const uint64_t payment = topup_units_;
  auto shown = Show(req, payment);
  if (!shown.ok()) return shown.status();
  requests_++;
  const ConnectRequest& r = *shown;
  if (opt_.on_request) opt_.on_request(r);
  auto answer = WaitForAnswer(r);
  if (!answer.ok()) return answer.status();

  // The signature: SignedData is a list (we sent a list) or a string.
  const json& sd = answer->contains("SignedData") ? (*answer)["SignedData"] : json();
  std::string sig;
  if (sd.is_array() && sd.size() == 1 && sd[0].is_string()) {
    sig = sd[0].get<std::string>();
  } else if (sd.is_string()) {
    sig = sd.get<std::string>();
  } else {
    return Status::Protocol(fmt::format(
        "the app's answer for {} has no signature (SignedData: {}); {}", ChunkName(r),
        sd.dump().substr(0, 100), NothingSubmitted(r)));
  }
  std::string app_key = answer->value("PublicKey", "");
  if (!grid::Ed25519VerifyHex(opt_.public_key_hex, req.to_sign, sig)) {
    std::string hint =
        !app_key.empty() && app_key != opt_.public_key_hex
            ? fmt::format(" The app signed with key {}: it holds another mnemonic than this "
                          "keystore (whose twin key is {}).",
                          app_key, opt_.public_key_hex)
            : "";
    return Status::PermissionDenied(fmt::format(
        "the signature the app returned for {} does not verify against the twin's key {}; "
        "refused.{} {}",
        ChunkName(r), opt_.public_key_hex, hint, NothingSubmitted(r)));
  }

  if (payment > 0) {
    // The app paid with this request: the chunk goes on only once the
    // balance covers the plan (a real bridge may take a while).
    auto deadline = std::chrono::steady_clock::now() + opt_.timeout;
    uint64_t have = 0;
    while (true) {
      auto bal = relay_.GetBalance(opt_.public_key_hex);
      if (bal.ok()) {
        have = bal->free;
        if (have >= need_units_) break;
      }
      if (std::chrono::steady_clock::now() >= deadline ||
          (opt_.interrupted && opt_.interrupted())) {
        return Status::ResourceExhausted(fmt::format(
            "the app signed {} but its payment of {} has not arrived (balance {}, this apply "
            "needs {}); {}",
            ChunkName(r), grid::FormatTft(payment), grid::FormatTft(have),
            grid::FormatTft(need_units_), NothingSubmitted(r)));
      }
      std::this_thread::sleep_for(opt_.poll_interval);
    }
    topup_units_ = 0;
    need_units_ = 0;
  }

  std::ostream& out = opt_.out ? *opt_.out : std::cout;
  if (opt_.json) {
    out << json{{"type", "sign_approved"}, {"chunk", r.chunk}, {"chunks", r.chunks},
                {"purpose", r.purpose}, {"uuid", r.uuid}}
               .dump()
        << "\n"
        << std::flush;
  } else {
    out << fmt::format("Chunk {} of {} signed by the app{}.\n", r.chunk, r.chunks,
                       payment > 0 ? " and the top-up received" : "")
        << std::flush;
  }
  return sig;
}

ChunkSigner MakeConnectSigner(std::shared_ptr<ConnectSigner> flow) {
  return [flow = std::move(flow)](const SignRequest& req) { return flow->Sign(req); };
}

void UseConnectSigner(const std::shared_ptr<ConnectSigner>& flow, ApplyOptions& options) {
  options.signer = MakeConnectSigner(flow);
  options.fund_with_first_chunk = [flow](uint64_t topup_units, uint64_t need_units) {
    return flow->FundWithFirstRequest(topup_units, need_units);
  };
}

}  // namespace qstor::reconciler
