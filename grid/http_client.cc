#include "grid/http_client.h"

#include <curl/curl.h>

#include <mutex>

namespace qstor::grid {
namespace {

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct BodySink {
  std::string* out;
  size_t max;
  bool over = false;
};

size_t OnBody(char* p, size_t size, size_t n, void* ud) {
  auto* sink = static_cast<BodySink*>(ud);
  if (sink->out->size() + size * n > sink->max) {
    sink->over = true;
    return 0;  // aborts the transfer
  }
  sink->out->append(p, size * n);
  return size * n;
}

size_t OnHeader(char* p, size_t size, size_t n, void* ud) {
  auto* h = static_cast<std::map<std::string, std::string>*>(ud);
  std::string line(p, size * n);
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string k = line.substr(0, colon);
    for (auto& c : k) c = char(std::tolower(static_cast<unsigned char>(c)));
    std::string v = line.substr(colon + 1);
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.erase(0, 1);
    while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' ')) v.pop_back();
    (*h)[k] = v;
  }
  return size * n;
}

}  // namespace

HttpClient::HttpClient(std::chrono::milliseconds timeout) : timeout_(timeout) {
  GlobalInit();
  curl_ = curl_easy_init();
}

HttpClient::~HttpClient() {
  if (curl_) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

Result<HttpResult> HttpClient::Send(const std::string& method, const std::string& url,
                                    const std::string& body,
                                    const std::map<std::string, std::string>& headers) {
  CURL* c = static_cast<CURL*>(curl_);
  if (c == nullptr) return Status::Internal("http: curl_easy_init failed");
  curl_easy_reset(c);
  HttpResult res;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, long(timeout_.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, long(std::min<long>(timeout_.count(), 5000)));
  BodySink sink{&res.body, max_body_};
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  if (max_redirects_ > 0) {
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, max_redirects_);
#if LIBCURL_VERSION_NUM >= 0x075500  // 7.85: CURLOPT_REDIR_PROTOCOLS_STR
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, long(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  }
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &res.headers);
  if (method == "HEAD") curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  if (!body.empty() || method == "POST" || method == "PUT") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.size()));
  }
  struct curl_slist* hl = nullptr;
  hl = curl_slist_append(hl, "Content-Type: application/json");
  hl = curl_slist_append(hl, "Expect:");
  for (const auto& [k, v] : headers) hl = curl_slist_append(hl, (k + ": " + v).c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(hl);
  if (rc != CURLE_OK) {
    if (sink.over) {
      return Status::ResourceExhausted("http " + method + " " + url + ": the body is larger than " +
                                       std::to_string(max_body_) + " bytes");
    }
    std::string what = method + " " + url + ": " + curl_easy_strerror(rc);
    if (rc == CURLE_OPERATION_TIMEDOUT) return Status::Timeout("http " + what);
    if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST) {
      return Status::Unavailable("http " + what);
    }
    return Status::IOError("http " + what);
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res.status);
  return res;
}

}  // namespace qstor::grid
