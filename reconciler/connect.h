// payment: connect — the ThreeFold Connect app signs each signing chunk.
//
// For every chunk ApplyPlan/DestroyAll hand to the ChunkSigner
// (reconciler/apply.h), ConnectSigner:
//   1. asks the network's sign-and-pay relay for a request
//      (POST /api/signandpay {twin_id, data_to_sign: [to_sign], amount?}),
//   2. shows it: a QR code carrying "threebot://signandpay/#<url>" in the
//      terminal (black on white, so it reads on dark and light themes), the
//      same code as PNG and SVG files, the chunk number, purpose, and the
//      plain URI (to paste); with `json` one JSON line instead;
//   3. polls GET /api/<uuid> until the app approved it (or the relay says it
//      was rejected, or options.timeout passes, or `interrupted` says stop),
//   4. checks the signature against the twin's public key and returns it.
// Nothing of a chunk is submitted unless its signature verified.
//
// Why polling and not the relay's callback: polling needs no listening
// socket, so it works behind NAT and firewalls (the real relay is on the
// internet and cannot reach a CLI on a laptop; the devnet only calls back
// loopback URLs), and a request's answer stays readable at GET /api/<uuid>.
//
// Funding: when the balance is short of what the plan needs, ApplyPlan calls
// FundWithFirstRequest (ApplyOptions::fund_with_first_chunk) instead of
// refusing; the next request then carries that amount as its Payment (the
// app tops the twin up through the bridge while it signs), and the chunk is
// signed only once the balance reached what the plan needs.
//
// ConnectSigner holds no secret: the twin's key stays in the app. It must
// outlive the ChunkSigner made from it; it is not thread-safe (one apply).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "grid/http_grid.h"
#include "reconciler/apply.h"

namespace qstor::reconciler {

// One request to the app, as shown.
struct ConnectRequest {
  size_t chunk = 0;
  size_t chunks = 0;
  size_t scan = 0;   // SignRequest::scan / scans: across the whole apply
  size_t scans = 0;
  std::string purpose;
  std::string uuid;
  std::string uri;       // threebot://signandpay/#<url>: the QR code's exact bytes
  std::string png_path;
  std::string svg_path;
  uint64_t payment_units = 0;  // what the app is asked to pay (0: nothing)
};

struct ConnectOptions {
  // The twin's ed25519 public key (hex): every signature must verify with it,
  // and the twin is looked up by it on the first request.
  std::string public_key_hex;
  // How long to wait for the app, per chunk (spec.payment.timeout).
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
  std::chrono::milliseconds poll_interval{std::chrono::milliseconds(500)};
  // Where chunk QR codes are written as <purpose>-chunk-N.{png,svg}
  // (created with mode 0700; files 0600). Required.
  std::string qr_dir;
  // Human lines and the terminal QR go here; with `json`, one JSON object per
  // line ({"type":"sign_request",...} and {"type":"sign_approved",...}).
  std::ostream* out = nullptr;
  bool json = false;
  bool ansi_colors = true;  // reconciler/qr.h TerminalStyle::ansi_colors
  // Say how the devnet plays the app (`qstor devnet approve URI`).
  bool devnet_hint = false;
  // What the user runs to try again, for the messages ("qstor apply").
  std::string rerun = "qstor apply";
  // Polled while waiting; true stops the wait (nothing of the chunk submitted).
  std::function<bool()> interrupted;
  // Called once the request is shown (tests use it to play the phone).
  std::function<void(const ConnectRequest&)> on_request;
};

class ConnectSigner {
 public:
  // `relay` is the network's sign-and-pay relay and chain (the devnet serves
  // both); it must outlive this object.
  ConnectSigner(grid::HttpGrid& relay, ConnectOptions options);

  // The ChunkSigner body: returns the hex ed25519 signature of req.to_sign.
  // Errors say which chunk, and that nothing of it was submitted.
  Result<std::string> Sign(const SignRequest& req);

  // The next request carries `topup_units` (paid to the bridge for the twin,
  // its fee included); that chunk's signature is returned only once the
  // balance is at least `need_units`.
  Status FundWithFirstRequest(uint64_t topup_units, uint64_t need_units);

  size_t requests() const { return requests_; }
  const ConnectOptions& options() const { return opt_; }

 private:
  Result<uint32_t> TwinId();
  std::string NothingSubmitted(const ConnectRequest& r) const;
  Result<ConnectRequest> Show(const SignRequest& req, uint64_t payment_units);
  Result<nlohmann::json> WaitForAnswer(const ConnectRequest& r);

  grid::HttpGrid& relay_;
  ConnectOptions opt_;
  uint32_t twin_id_ = 0;
  uint64_t topup_units_ = 0;
  uint64_t need_units_ = 0;
  size_t requests_ = 0;
};

// A ChunkSigner that forwards to `flow` (shared: the CLI keeps it for funding).
ChunkSigner MakeConnectSigner(std::shared_ptr<ConnectSigner> flow);

// Sets options.signer and options.fund_with_first_chunk to `flow`'s.
void UseConnectSigner(const std::shared_ptr<ConnectSigner>& flow, ApplyOptions& options);

// "create contracts" -> "create-contracts", "resize data[2]" -> "resize-data-2".
std::string PurposeSlug(const std::string& purpose);

}  // namespace qstor::reconciler
