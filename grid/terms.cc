#include "grid/terms.h"

#include <fmt/format.h>

#include "grid/http_client.h"
#include "grid/md5.h"
#include "grid/tfchain_client.h"

namespace qstor::grid {
namespace {

bool LinkChar(char c) {
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return true;
  static constexpr std::string_view kOther = "-._~:/?#[]@!$&'()*+,;=";
  return kOther.find(c) != std::string_view::npos;
}

}  // namespace

Status CheckTermsLink(std::string_view link) {
  if (link.empty() || link.size() > 2048) {
    return Status::InvalidArgument(
        fmt::format("terms and conditions: the link must be 1 to 2048 bytes (it is {})",
                    link.size()));
  }
  for (size_t i = 0; i < link.size(); ++i) {
    if (!LinkChar(link[i])) {
      return Status::InvalidArgument(fmt::format(
          "terms and conditions: TFChain refuses the character at offset {} of the link {}", i,
          link));
    }
  }
  return Status::OK();
}

Result<TermsDocument> FetchTermsDocument(const std::string& link,
                                         const TermsFetchOptions& options) {
  QSTOR_RETURN_IF_ERROR(CheckTermsLink(link));
  if (link.rfind("http://", 0) != 0 && link.rfind("https://", 0) != 0) {
    return Status::InvalidArgument("terms and conditions: " + link +
                                   " is not an http:// or https:// link");
  }
  HttpClient http(options.timeout);
  http.set_max_body_bytes(options.max_bytes);
  http.set_follow_redirects(options.max_redirects);
  auto res = http.Send("GET", link, "", {{"Accept", "text/html, text/plain, */*"}});
  if (!res.ok()) {
    const Status& st = res.status();
    std::string why;
    switch (st.code()) {
      case Status::Code::kUnavailable:
        why = "the network or the server is unreachable";
        break;
      case Status::Code::kTimeout:
        why = fmt::format("no complete answer within {} ms", options.timeout.count());
        break;
      case Status::Code::kResourceExhausted:
        why = fmt::format("the document is larger than {} bytes", options.max_bytes);
        break;
      default:
        why = "the download failed";
        break;
    }
    return Status(st.code(), fmt::format("terms and conditions: cannot fetch {}: {} ({})", link,
                                         why, st.message()));
  }
  if (res->status != 200) {
    return Status::FailedPrecondition(
        fmt::format("terms and conditions: GET {} answered HTTP {}, not 200 (no document to "
                    "accept)",
                    link, res->status));
  }
  return TermsDocument{link, Md5::HexDigest(res->body)};
}

Result<TermsDocument> FetchTermsAndConditions(const std::string& network_name,
                                              const std::string& devnet_base_url,
                                              const TermsFetchOptions& options) {
  if (network_name == "devnet") {
    if (devnet_base_url.empty()) {
      return Status::InvalidArgument("terms and conditions: the devnet's URL is not known");
    }
    std::string base = devnet_base_url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    return FetchTermsDocument(base + "/legal/terms", options);
  }
  if (network_name == "main" || network_name == "test" || network_name == "qa" ||
      network_name == "dev") {
    return FetchTermsDocument(std::string(kTermsAndConditionsLink), options);
  }
  return Status::InvalidArgument("terms and conditions: unknown network \"" + network_name +
                                 "\" (devnet, main, test, qa or dev)");
}

}  // namespace qstor::grid
