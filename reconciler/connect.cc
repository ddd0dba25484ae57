#include "reconciler/connect.h"

#include <algorithm>

#include <cctype>
#include <filesystem>
#include <iostream>
#include <thread>

#include <fmt/format.h>

#include "common/file_util.h"
#include "common/units.h"
#include "grid/connect_login.h"
#include "grid/crypto.h"
#include "grid/http_client.h"
#include "grid/tfchain/extrinsic.h"
#include "grid/types.h"
#include "reconciler/batch.h"
#include "reconciler/qr.h"

namespace qstor::reconciler {

using nlohmann::json;

namespace {

std::string ChunkName(const ConnectRequest& r) {
  return fmt::format("chunk {} of {} ({})", r.chunk, r.chunks, r.purpose);
}

std::string ChunkName(const SignRequest& r) {
  return fmt::format("chunk {} of {} ({})", r.chunk, r.chunks, r.purpose);
}

Status BadDocument(const std::string& what) {
  return Status::InvalidArgument("sign request document: " + what);
}

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

bool IsUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); i++) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !IsLowerHex(s[i])) return false;
  }
  return true;
}

// "TFT:<bridge>?message=twin_<id>": bridge 1..56 of A-Z0-9, id 1..10 digits
// without a leading zero, at most 2^32-1.
bool IsDestination(std::string_view s) {
  constexpr std::string_view kHead = "TFT:", kMessage = "?message=twin_";
  if (s.substr(0, kHead.size()) != kHead) return false;
  size_t q = s.find('?');
  if (q == std::string_view::npos) return false;
  std::string_view bridge = s.substr(kHead.size(), q - kHead.size());
  if (bridge.empty() || bridge.size() > kMaxBridgeAddressBytes) return false;
  for (char c : bridge) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return false;
  }
  if (s.substr(q, kMessage.size()) != kMessage) return false;
  std::string_view id = s.substr(q + kMessage.size());
  if (id.empty() || id.size() > 10 || id[0] == '0') return false;
  for (char c : id) {
    if (c < '0' || c > '9') return false;
  }
  return std::stoull(std::string(id)) <= 0xffffffffull;
}

}  // namespace

std::string PaymentDestination(std::string_view bridge, uint32_t twin_id) {
  return fmt::format("TFT:{}?message=twin_{}", bridge, twin_id);
}

std::string EncodeSignRequestDocument(const SignRequestDocument& doc) {
  std::string out = "{\"uuid\":" + json(doc.uuid).dump() +
                    ",\"CallbackUrl\":" + json(doc.callback_url).dump();
  if (doc.payment) {
    out += fmt::format(",\"Payment\":{{\"Amount\":{},\"Destination\":{}}}",
                       doc.payment->amount_units, json(doc.payment->destination).dump());
  }
  out += ",\"DataToSign\":[";
  for (size_t i = 0; i < doc.data_to_sign.size(); i++) {
    if (i > 0) out += ",";
    out += "\"" + grid::connect::Base64Encode(doc.data_to_sign[i]) + "\"";
  }
  out += "]}";
  return out;
}

Result<SignRequestDocument> DecodeSignRequestDocument(std::string_view text, bool relay_fields) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return BadDocument("not a JSON object");
  SignRequestDocument d;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    const json& v = it.value();
    if (k == "uuid") {
      if (!v.is_string() || !IsUuid(v.get<std::string>())) {
        return BadDocument("uuid: expected 8-4-4-4-12 lower-case hex, got " + v.dump().substr(0, 60));
      }
      d.uuid = v.get<std::string>();
    } else if (k == "CallbackUrl") {
      if (!v.is_string()) return BadDocument("CallbackUrl: expected a string");
      const std::string& u = v.get_ref<const std::string&>();
      if (u.rfind("http://", 0) != 0 && u.rfind("https://", 0) != 0) {
        return BadDocument("CallbackUrl: expected an http:// or https:// URL");
      }
      if (u.size() > kMaxCallbackUrlBytes) {
        return BadDocument(fmt::format("CallbackUrl: {} bytes, at most {}", u.size(),
                                       kMaxCallbackUrlBytes));
      }
      for (char c : u) {
        if (c < 0x21 || c > 0x7e || c == '"' || c == '\\') {
          return BadDocument("CallbackUrl: only printable ASCII without quotes or backslashes");
        }
      }
      d.callback_url = u;
    } else if (k == "Payment") {
      if (!v.is_object() || v.size() != 2 || !v.contains("Amount") || !v.contains("Destination")) {
        return BadDocument("Payment: expected {Amount, Destination}");
      }
      if (!v["Amount"].is_number_unsigned() || v["Amount"].get<uint64_t>() == 0) {
        return BadDocument("Payment.Amount: expected a positive integer (units of 1e-7 TFT)");
      }
      if (!v["Destination"].is_string() || !IsDestination(v["Destination"].get<std::string>())) {
        return BadDocument("Payment.Destination: expected TFT:<bridge>?message=twin_<id>, got " +
                           v["Destination"].dump().substr(0, 100));
      }
      d.payment = SignRequestPayment{v["Amount"].get<uint64_t>(),
                                     v["Destination"].get<std::string>()};
    } else if (k == "DataToSign") {
      if (!v.is_array() || v.empty()) return BadDocument("DataToSign: expected a non-empty list");
      for (size_t i = 0; i < v.size(); i++) {
        std::string what = fmt::format("DataToSign[{}]", i);
        if (!v[i].is_string()) return BadDocument(what + ": expected a base64 string");
        const std::string& b64 = v[i].get_ref<const std::string&>();
        auto raw = grid::connect::Base64Decode(b64, what);
        if (!raw.ok()) return BadDocument(raw.status().message());
        if (raw->empty()) return BadDocument(what + ": empty");
        if (grid::connect::Base64Encode(*raw) != b64) {
          return BadDocument(what + ": not canonical base64");
        }
        d.data_to_sign.push_back(std::move(raw).value());
      }
    } else if (relay_fields && k == "State") {
      if (!v.is_string()) return BadDocument("State: expected a string");
      d.state = v.get<std::string>();
    } else if (relay_fields && k == "Response") {
      d.response = v;
    } else if (relay_fields && k == "Error") {
      if (!v.is_string()) return BadDocument("Error: expected a string");
      d.error = v.get<std::string>();
    } else {
      return BadDocument("unknown field \"" + k.substr(0, 40) + "\"");
    }
  }
  if (d.uuid.empty()) return BadDocument("no uuid");
  if (d.callback_url.empty()) return BadDocument("no CallbackUrl");
  if (d.data_to_sign.empty()) return BadDocument("no DataToSign");
  return d;
}

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

// Asks the relay for the request, reads back the document the app will get,
// and makes the QR text of the chosen flow. Nothing is shown yet.
Result<ConnectRequest> ConnectSigner::Request(const SignRequest& req, uint64_t payment_units) {
  const std::string nothing =
      fmt::format("nothing of chunk {} was submitted; run `{}` again", req.chunk, opt_.rerun);
  if (req.payload.empty()) {
    return Status::InvalidArgument(fmt::format(
        "connect: {} has no signing payload to show the app; {}", ChunkName(req), nothing));
  }
  if (tfchain::PayloadToSign(req.payload) != req.to_sign) {
    return Status::InvalidArgument(fmt::format(
        "connect: {}: the bytes to sign are not those of its {}-byte payload; {}", ChunkName(req),
        req.payload.size(), nothing));
  }
  if (!req.signer_hex.empty() && req.signer_hex != opt_.public_key_hex) {
    return Status::InvalidArgument(fmt::format(
        "connect: {} is to be signed by key {}, but this apply signs with the twin key {}; {}",
        ChunkName(req), req.signer_hex, opt_.public_key_hex, nothing));
  }
  auto twin = TwinId();
  if (!twin.ok()) return twin.status();
  const std::string b64 = grid::connect::Base64Encode(req.payload);
  json body{{"twin_id", *twin}, {"data_to_sign", json::array({b64})}};
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
  r.flow = opt_.qr == Manifest::Payment::Qr::kInline ? "inline" : "url";
  if (!answer->is_object() || !answer->contains("uuid") || !(*answer)["uuid"].is_string() ||
      !answer->contains("url") || !(*answer)["url"].is_string()) {
    return Status::Protocol("sign-and-pay relay: expected {uuid, url, qr}, got " +
                            answer->dump().substr(0, 200));
  }
  r.uuid = (*answer)["uuid"].get<std::string>();
  const std::string url = (*answer)["url"].get<std::string>();
  if (answer->contains("qr") && (*answer)["qr"].is_string() &&
      (*answer)["qr"].get<std::string>() != std::string(kSignAndPayUriPrefix) + url) {
    return Status::Protocol(fmt::format("sign-and-pay relay: its qr \"{}\" is not {}{}",
                                        (*answer)["qr"].get<std::string>(), kSignAndPayUriPrefix,
                                        url));
  }

  // The document, fetched from the URL exactly as the app will fetch it.
  grid::HttpClient http(std::chrono::seconds(30));
  auto got = http.Send("GET", url);
  if (!got.ok()) return got.status().WithContext("reading the sign request back from " + url);
  if (got->status != 200) {
    return Status::Protocol(fmt::format("sign-and-pay relay: GET {} answered HTTP {}: {}", url,
                                        got->status, got->body.substr(0, 200)));
  }
  auto doc = DecodeSignRequestDocument(got->body, /*relay_fields=*/true);
  if (!doc.ok()) return doc.status().WithContext("sign-and-pay relay: GET " + url);
  std::string differs;
  if (doc->uuid != r.uuid) differs = "uuid " + doc->uuid;
  if (doc->data_to_sign != std::vector<std::string>{req.payload}) differs = "DataToSign";
  if (doc->state != "pending") differs = "State \"" + doc->state + "\"";
  if (payment_units == 0 && doc->payment) differs = "Payment (none was asked)";
  if (payment_units > 0 &&
      (!doc->payment || doc->payment->amount_units != payment_units ||
       !doc->payment->destination.ends_with("?message=twin_" + std::to_string(*twin)))) {
    differs = "Payment";
  }
  if (!differs.empty()) {
    return Status::Protocol(fmt::format(
        "sign-and-pay relay: the request it serves at {} is not what qstor asked ({} differs)",
        url, differs));
  }
  if (r.flow == "url") {
    r.uri = std::string(kSignAndPayUriPrefix) + url;
    r.document = got->body;
  } else {
    SignRequestDocument inline_doc = *doc;
    inline_doc.state.clear();
    r.document = EncodeSignRequestDocument(inline_doc);
    r.uri = std::string(kSignAndPayUriPrefix) + r.document;
  }
  for (const auto& [what, bytes] :
       {std::pair<const char*, size_t>{"QR text", r.uri.size()},
        std::pair<const char*, size_t>{"sign request", r.document.size()}}) {
    if (bytes > kQrMaxPayloadBytes) {
      return Status::InvalidArgument(fmt::format(
          "connect: the {} of {} is {} bytes, over the {} one QR code holds (signing payload "
          "{} bytes, {} flow); {}",
          what, ChunkName(r), bytes, kQrMaxPayloadBytes, req.payload.size(), r.flow,
          NothingSubmitted(r)));
    }
  }
  return r;
}

Result<ConnectRequest> ConnectSigner::Show(const SignRequest& req, uint64_t payment_units) {
  auto made = Request(req, payment_units);
  if (!made.ok()) return made.status();
  ConnectRequest r = std::move(made).value();
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
    json e{{"type", "sign_request"},
           {"chunk", r.chunk},
           {"chunks", r.chunks},
           {"purpose", r.purpose},
           {"uuid", r.uuid},
           {"flow", r.flow},
           {"uri", r.uri},
           {"qr_bytes", r.uri.size()},
           {"request_bytes", r.document.size()},
           {"payload_bytes", req.payload.size()},
           {"calls", req.calls},
           {"png", r.png_path},
           {"svg", r.svg_path},
           {"payment_units", payment_units},
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
    auto twin = TwinId();
    out << fmt::format("\n{}ign chunk {} of {} ({}) with the ThreeFold Connect app: scan this "
                       "code{}.\n",
                       scan, r.chunk, r.chunks, r.purpose,
                       payment_units > 0 && twin.ok()
                           ? fmt::format("; the app also pays {} to the bridge for twin {} "
                                         "(the balance is short of what this apply needs)",
                                         grid::FormatTft(payment_units), *twin)
                           : "");
    if (!req.calls.empty()) {
      out << fmt::format("The app signs one transaction ({} bytes) of {} call{}; check that it "
                         "shows the same:\n",
                         req.payload.size(), req.calls.size(), req.calls.size() == 1 ? "" : "s");
      for (const auto& c : req.calls) out << "  " << c << "\n";
    }
    if (opt_.devnet_hint) {
      out << "(On the devnet, play the app with `qstor devnet approve '" << r.uri << "'`.)\n";
    }
    TerminalStyle style;
    style.ansi_colors = opt_.ansi_colors;
    out << "\n" << RenderTerminal(*qr, style) << "\n";
    out << r.uri << "\n";
    out << fmt::format("The same code: {} and {} ({} flow, {} bytes)\n", r.png_path, r.svg_path,
                       r.flow, r.uri.size());
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
  // The signature must be over exactly the bytes qstor will submit, by the
  // chunk's signer: whatever the app showed or decoded, nothing else passes.
  const std::string& signer = req.signer_hex.empty() ? opt_.public_key_hex : req.signer_hex;
  std::string app_key = answer->value("PublicKey", "");
  if (!grid::Ed25519VerifyHex(signer, req.to_sign, sig)) {
    std::string hint =
        !app_key.empty() && app_key != signer
            ? fmt::format(" The app signed with key {}: it holds another mnemonic than this "
                          "keystore (whose twin key is {}).",
                          app_key, signer)
            : " The app signed other bytes than this chunk's payload.";
    return Status::PermissionDenied(fmt::format(
        "the signature the app returned for {} does not verify against the twin's key {}; "
        "refused.{} {}",
        ChunkName(r), signer, hint, NothingSubmitted(r)));
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
