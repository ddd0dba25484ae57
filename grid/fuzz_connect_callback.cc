// libFuzzer target: the ThreeFold Connect login parsers (callback URL, login
// URL, users API answer) and the verification of whatever attempt parses.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "grid/connect_login.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace qstor::grid::connect;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  static const LoginRequest request = [] {
    auto r = NewLoginRequest();
    return std::move(r).value();
  }();
  auto cb = ParseCallbackUrl(in);
  if (cb.ok()) {
    qstor::grid::PublicKey pk{};
    pk[0] = 1;
    VerifyOptions o;
    o.now_unix = request.created_unix;
    (void)VerifyAttempt(request, *cb, pk, o);
  }
  (void)ParseLoginUrl(in);
  (void)ParseUserPublicKey(in, "demo.3bot");
  (void)UrlDecode(in, "fuzz");
  (void)Base64Decode(in, "fuzz");
  return 0;
}
