// payment: connect — the ThreeFold Connect app signs each signing chunk.
//
// For every chunk ApplyPlan/DestroyAll hand to the ChunkSigner
// (reconciler/apply.h), ConnectSigner:
//   1. asks the network's sign-and-pay relay for a request
//      (POST /api/signandpay {twin_id, data_to_sign: [base64(req.payload)],
//      amount?}) and reads back, from the URL the relay names, the sign
//      request document the app will receive (below), checking it carries
//      exactly the payload and payment asked for;
//   2. shows it as one QR code (flow `options.qr`, spec.payment.qr):
//        url     "threebot://signandpay/#<url>": the app fetches the document;
//        inline  "threebot://signandpay/#<document>": the whole request is in
//                the code, the app fetches nothing;
//      in the terminal (black on white, so it reads on dark and light
//      themes), as PNG and SVG files, with the chunk number, purpose, the
//      calls it signs (req.calls) and the plain URI (to paste); with `json`
//      one JSON line instead. The QR text, and in the url flow the document
//      the app fetches, are each at most kQrMaxPayloadBytes (2953) or the
//      chunk is refused before anything is shown;
//   3. polls GET /api/<uuid> until the app's answer reached the relay (the
//      app posts it to the document's CallbackUrl) or the relay says the
//      request was rejected, or options.timeout passes, or `interrupted`
//      says stop;
//   4. checks the signature over req.to_sign against req.signer_hex and
//      returns it. Nothing of a chunk is submitted unless its signature
//      verified.
//
// Why polling and not a callback to the CLI: polling needs no listening
// socket, so it works behind NAT and firewalls (the real relay is on the
// internet and cannot reach a CLI on a laptop), and a request's answer stays
// readable at GET /api/<uuid>.
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
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "grid/http_grid.h"
#include "reconciler/apply.h"

namespace qstor::reconciler {

// ---------------------------------------------------------------------------
// The sign request document: what the app receives for one chunk, in both
// flows (docs/identity.md, "Signing batches"). Compact JSON, keys in this
// order, no spaces:
//
//   {"uuid":"<36: 8-4-4-4-12 lower-case hex>",
//    "CallbackUrl":"<http(s) URL where the app POSTs its answer>",
//    "Payment":{"Amount":<units of 1e-7 TFT, > 0>,
//               "Destination":"TFT:<bridge>?message=twin_<id>"},   (only when paying)
//    "DataToSign":["<base64 of one SCALE signing payload>"]}
//
// The payload is call ‖ extra ‖ additional (grid/tfchain/extrinsic.h); the
// app decodes and shows it, signs PayloadToSign(payload) (blake2b-256 of it
// when over 256 bytes) with the twin's ed25519 key and POSTs
// {"SignedData":["<hex signature>"...],"PublicKey":"<hex>","Payment":...}
// to CallbackUrl. In the url flow the relay's GET <url> returns this
// document with "State" ("pending", "approved", "rejected") appended, and
// once answered "Response" (the app's answer) or "Error".
//
// Size (reconciler/connect_test proves it): with a payload of
// kMaxSigningPayloadBytes (1900: 2536 base64 characters), a CallbackUrl of
// kMaxCallbackUrlBytes, Amount 2^64-1 and a 10-digit twin id, the inline QR
// text is 2944 bytes and the url flow's pending document 2939, both within
// kQrMaxPayloadBytes (2953).
// ---------------------------------------------------------------------------

inline constexpr std::string_view kSignAndPayUriPrefix = "threebot://signandpay/#";
// The longest CallbackUrl a document may carry (the worst case above).
inline constexpr size_t kMaxCallbackUrlBytes = 160;
// The longest bridge address in a Destination (a Stellar account id).
inline constexpr size_t kMaxBridgeAddressBytes = 56;

struct SignRequestPayment {
  uint64_t amount_units = 0;  // > 0
  std::string destination;    // TFT:<bridge>?message=twin_<id>
  bool operator==(const SignRequestPayment&) const = default;
};

struct SignRequestDocument {
  std::string uuid;
  std::string callback_url;
  std::optional<SignRequestPayment> payment;
  std::vector<std::string> data_to_sign;  // the raw payload bytes (base64 on the wire)
  // The relay's fields (GET <url> only; never in the inline form):
  std::string state;
  nlohmann::json response;  // null unless approved
  std::string error;
};

// The compact document (relay fields not written). It does not check the
// bounds; DecodeSignRequestDocument does.
std::string EncodeSignRequestDocument(const SignRequestDocument& doc);
// Parses and checks a document: every key known (State, Response and Error
// only with `relay_fields`), uuid 8-4-4-4-12 lower-case hex, CallbackUrl an
// http(s) URL of at most kMaxCallbackUrlBytes printable ASCII characters
// (no quote or backslash, so it encodes as it is), Payment.Amount > 0 and
// Destination "TFT:<1..56 of A-Z0-9>?message=twin_<id>", DataToSign a
// non-empty list of canonical base64 strings of non-empty payloads.
// kInvalidArgument naming the field otherwise.
Result<SignRequestDocument> DecodeSignRequestDocument(std::string_view text, bool relay_fields);
// "TFT:<bridge>?message=twin_<id>".
std::string PaymentDestination(std::string_view bridge, uint32_t twin_id);

// One request to the app, as shown.
struct ConnectRequest {
  size_t chunk = 0;
  size_t chunks = 0;
  size_t scan = 0;   // SignRequest::scan / scans: across the whole apply
  size_t scans = 0;
  std::string purpose;
  std::string uuid;
  std::string flow;      // "url" or "inline"
  // The QR code's exact bytes: threebot://signandpay/#<url> (url flow) or
  // threebot://signandpay/#<document> (inline flow).
  std::string uri;
  // The document the app receives: GET <url>'s body (url flow), or the
  // document in the QR text (inline flow).
  std::string document;
  std::string png_path;
  std::string svg_path;
  uint64_t payment_units = 0;  // what the app is asked to pay (0: nothing)
};

struct ConnectOptions {
  // The twin's ed25519 public key (hex): every signature must verify with it,
  // and the twin is looked up by it on the first request.
  std::string public_key_hex;
  // How the QR code carries the request (spec.payment.qr).
  Manifest::Payment::Qr qr = Manifest::Payment::Qr::kUrl;
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

  // The ChunkSigner body: returns the hex ed25519 signature of req.to_sign,
  // verified with req.signer_hex. req.payload must be non-empty and
  // req.to_sign its PayloadToSign (kInvalidArgument otherwise); a request
  // that would not fit one QR code is refused (kInvalidArgument, sizes
  // named). Errors say which chunk, and that nothing of it was submitted.
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
  Result<ConnectRequest> Request(const SignRequest& req, uint64_t payment_units);
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
