// libFuzzer: arbitrary bytes as a JSON-RPC frame, on both sides: the client's
// classification of what a server sends (grid::ParseJsonRpcIncoming, and the
// Status an error reply becomes) and the server's request dispatch
// (JsonRpcDispatcher: single requests, batches, errors). Neither may crash,
// throw, or answer with something that is not JSON-RPC.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "devnet/jsonrpc_ws_server.h"
#include "grid/jsonrpc_ws.h"

namespace {

using nlohmann::json;
using qstor::devnet::JsonRpcConnection;
using qstor::devnet::JsonRpcConnectionPtr;
using qstor::devnet::JsonRpcDispatcher;
using qstor::devnet::JsonRpcError;
using qstor::devnet::JsonRpcResult;

class FakeConnection : public JsonRpcConnection {
 public:
  uint64_t id() const override { return 1; }
  bool supports_push() const override { return true; }
  bool open() const override { return true; }
  bool Notify(const std::string&, const json& subscription, const json& result) override {
    (void)qstor::grid::DumpJson(subscription);
    (void)qstor::grid::DumpJson(result);
    return true;
  }
  void OnClose(std::function<void()>) override {}
};

const JsonRpcDispatcher& Dispatcher() {
  static JsonRpcDispatcher* d = [] {
    auto* x = new JsonRpcDispatcher();
    x->Register("echo", [](const json& p, const JsonRpcConnectionPtr&) -> JsonRpcResult { return p; });
    x->Register("sub", [](const json& p, const JsonRpcConnectionPtr& c) -> JsonRpcResult {
      c->Notify("note", "s1", p);
      return "s1";
    });
    x->Register("fail", [](const json& p, const JsonRpcConnectionPtr&) -> JsonRpcResult {
      return JsonRpcError{1010, "Invalid Transaction", p};
    });
    return x;
  }();
  return *d;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view frame(reinterpret_cast<const char*>(data), size);

  auto in = qstor::grid::ParseJsonRpcIncoming(frame);
  if (in.kind == qstor::grid::JsonRpcIncoming::Kind::kReply && in.is_error) {
    auto st = qstor::grid::JsonRpcErrorStatus("m", in.error_code, in.error_message, in.result);
    if (st.ok()) std::abort();
  }
  if (in.kind == qstor::grid::JsonRpcIncoming::Kind::kInvalid && in.error.empty()) std::abort();

  static auto conn = std::make_shared<FakeConnection>();
  std::string reply = Dispatcher().Dispatch(frame, conn);
  if (!reply.empty()) {
    // Whatever the server answers must itself be JSON-RPC a client accepts.
    auto parsed = qstor::grid::ParseJsonBounded(reply, 1 << 20);
    if (!parsed.ok()) std::abort();
    const json& j = *parsed;
    auto check = [](const json& r) {
      if (!r.is_object() || r.value("jsonrpc", "") != "2.0" || !r.contains("id")) std::abort();
      if (r.contains("result") == r.contains("error")) std::abort();
    };
    if (j.is_array()) {
      for (const auto& r : j) check(r);
    } else {
      check(j);
    }
  }
  (void)qstor::grid::ParseWsUrl(frame);
  return 0;
}
