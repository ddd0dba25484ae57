// grid/terms.h: the Terms and Conditions document and its MD5, fetched from a
// running devnet (GET /legal/terms) and from local HTTP servers that answer
// 404, too much, a redirect, too late, or not at all.
#include "grid/terms.h"

#include <openssl/evp.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "devnet/devnet.h"
#include "devnet/http_server.h"
#include "grid/http_client.h"
#include "grid/tfchain_client.h"

namespace qstor::grid {
namespace {

namespace fs = std::filesystem;

// MD5 by OpenSSL, independent of grid/md5.h.
std::string OpensslMd5Hex(const std::string& bytes) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EXPECT_EQ(EVP_Digest(bytes.data(), bytes.size(), d, &n, EVP_md5(), nullptr), 1);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < n; ++i) {
    out.push_back(kHex[d[i] >> 4]);
    out.push_back(kHex[d[i] & 15]);
  }
  return out;
}

TEST(Terms, TheDevnetServesADocumentAndItsHashIsTheMd5OfTheServedBytes) {
  const std::string dir =
      (fs::temp_directory_path() / ("qstor-terms-test-" + std::to_string(::getpid()))).string();
  fs::remove_all(dir);
  fs::create_directories(dir);
  devnet::DevnetOptions o;
  o.data_dir = dir;
  o.nodes = 3;
  o.block_ms = 200;
  auto d = devnet::Devnet::Start(o);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  const std::string base = (*d)->base_url();

  auto doc = FetchTermsAndConditions("devnet", base);
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_EQ(doc->link, base + "/legal/terms");
  EXPECT_TRUE(CheckTermsLink(doc->link).ok()) << "TFChain would refuse the link " << doc->link;

  // The bytes as served, fetched apart, hashed by OpenSSL.
  HttpClient c(std::chrono::seconds(10));
  auto raw = c.Send("GET", base + "/legal/terms");
  ASSERT_TRUE(raw.ok()) << raw.status().ToString();
  ASSERT_EQ(raw->status, 200);
  EXPECT_FALSE(raw->body.empty());
  EXPECT_NE(raw->body.find("terms and conditions"), std::string::npos) << raw->body;
  EXPECT_EQ(doc->md5_hex, OpensslMd5Hex(raw->body));
  EXPECT_EQ(doc->md5_hex.size(), 32u);

  // A trailing slash on the base URL names the same document.
  auto again = FetchTermsAndConditions("devnet", base + "/");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->link, doc->link);
  EXPECT_EQ(again->md5_hex, doc->md5_hex);

  (*d)->Stop();
  // The devnet gone: unreachable, and the message says what and where.
  auto gone = FetchTermsAndConditions("devnet", base);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.status().code(), Status::Code::kUnavailable) << gone.status().ToString();
  EXPECT_NE(gone.status().message().find(base + "/legal/terms"), std::string::npos)
      << gone.status().ToString();
  EXPECT_NE(gone.status().message().find("unreachable"), std::string::npos)
      << gone.status().ToString();
  d->reset();
  fs::remove_all(dir);
}

class LocalServer : public ::testing::Test {
 protected:
  void SetUp() override {
    devnet::HttpServerOptions o;
    auto s = devnet::HttpServer::Start(o, [](const devnet::HttpRequest& r) {
      devnet::HttpResponse res;
      res.content_type = "text/html";
      if (r.path == "/fox") {
        res.body = "The quick brown fox jumps over the lazy dog";
      } else if (r.path == "/missing") {
        res.status = 404;
        res.body = "<html>not here</html>";
      } else if (r.path == "/error") {
        res.status = 500;
        res.body = "boom";
      } else if (r.path == "/sized") {
        res.body = std::string(std::stoul(*r.Query("n")), 'x');
      } else if (r.path == "/moved") {
        res.status = 302;
        res.headers["Location"] = "/fox";
      } else if (r.path == "/loop") {
        res.status = 302;
        res.headers["Location"] = "/loop";
      } else if (r.path == "/slow") {
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));
        res.body = "late";
      } else {
        res.status = 404;
      }
      return res;
    });
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
    base_ = "http://127.0.0.1:" + std::to_string(server_->port());
  }
  std::unique_ptr<devnet::HttpServer> server_;
  std::string base_;
};

TEST_F(LocalServer, HashesTheBodyAsFetched) {
  auto doc = FetchTermsDocument(base_ + "/fox");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_EQ(doc->link, base_ + "/fox");
  EXPECT_EQ(doc->md5_hex, "9e107d9d372bb6826bd81d3542a419d6");  // RFC 1321's well-known fox
  // The fragment is not sent (tfgrid-sdk-ts's link ends in "#/"), but stays in the link.
  auto frag = FetchTermsDocument(base_ + "/fox#/");
  ASSERT_TRUE(frag.ok()) << frag.status().ToString();
  EXPECT_EQ(frag->link, base_ + "/fox#/");
  EXPECT_EQ(frag->md5_hex, "9e107d9d372bb6826bd81d3542a419d6");
}

TEST_F(LocalServer, FollowsRedirectsAsTheSdkDoesButNotForever) {
  auto doc = FetchTermsDocument(base_ + "/moved");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_EQ(doc->link, base_ + "/moved") << "the link accepted is the one asked for";
  EXPECT_EQ(doc->md5_hex, "9e107d9d372bb6826bd81d3542a419d6");
  auto loop = FetchTermsDocument(base_ + "/loop");
  ASSERT_FALSE(loop.ok());
  EXPECT_NE(loop.status().message().find(base_ + "/loop"), std::string::npos)
      << loop.status().ToString();
}

TEST_F(LocalServer, ANon200AnswerIsAClearError) {
  for (const char* path : {"/missing", "/error"}) {
    auto doc = FetchTermsDocument(base_ + path);
    ASSERT_FALSE(doc.ok()) << path;
    EXPECT_EQ(doc.status().code(), Status::Code::kFailedPrecondition) << doc.status().ToString();
    EXPECT_NE(doc.status().message().find(base_ + path), std::string::npos)
        << doc.status().ToString();
    EXPECT_NE(doc.status().message().find(path == std::string("/missing") ? "HTTP 404" : "HTTP 500"),
              std::string::npos)
        << doc.status().ToString();
  }
}

TEST_F(LocalServer, AnOversizedDocumentIsRefused) {
  TermsFetchOptions small;
  small.max_bytes = 1000;
  auto fits = FetchTermsDocument(base_ + "/sized?n=1000", small);
  ASSERT_TRUE(fits.ok()) << fits.status().ToString();
  EXPECT_EQ(fits->md5_hex, OpensslMd5Hex(std::string(1000, 'x')));
  auto over = FetchTermsDocument(base_ + "/sized?n=1001", small);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), Status::Code::kResourceExhausted) << over.status().ToString();
  EXPECT_NE(over.status().message().find("larger than 1000 bytes"), std::string::npos)
      << over.status().ToString();
  // The default bound (4 MiB) holds too.
  auto big = FetchTermsDocument(base_ + "/sized?n=" + std::to_string((4u << 20) + 1));
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), Status::Code::kResourceExhausted) << big.status().ToString();
}

TEST_F(LocalServer, ASlowServerTimesOut) {
  TermsFetchOptions quick;
  quick.timeout = std::chrono::milliseconds(300);
  auto t0 = std::chrono::steady_clock::now();
  auto doc = FetchTermsDocument(base_ + "/slow", quick);
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.status().code(), Status::Code::kTimeout) << doc.status().ToString();
  EXPECT_LT(took, std::chrono::milliseconds(1400));
}

TEST(Terms, LinksAndNetworks) {
  EXPECT_TRUE(CheckTermsLink(kTermsAndConditionsLink).ok());
  EXPECT_TRUE(CheckTermsLink("http://127.0.0.1:8080/legal/terms").ok());
  EXPECT_FALSE(CheckTermsLink("").ok());
  EXPECT_FALSE(CheckTermsLink("https://example.org/a b").ok());
  EXPECT_FALSE(CheckTermsLink("https://example.org/\xc3\xa9").ok());
  EXPECT_FALSE(CheckTermsLink("https://x/" + std::string(2048, 'a')).ok());
  EXPECT_TRUE(CheckTermsLink(std::string(2048, 'a')).ok());
  EXPECT_EQ(FetchTermsDocument("ftp://127.0.0.1/terms").status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(FetchTermsAndConditions("mars", "").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(FetchTermsAndConditions("devnet", "").status().code(),
            Status::Code::kInvalidArgument);
}

// A real network fetches ThreeFold's document. Without Internet access (the
// build machines) that is a clear error naming the link; with it, the hash.
TEST(Terms, RealNetworksFetchThreefoldsDocument) {
  TermsFetchOptions o;
  o.timeout = std::chrono::seconds(10);
  auto doc = FetchTermsAndConditions("main", "", o);
  if (doc.ok()) {
    EXPECT_EQ(doc->link, kTermsAndConditionsLink);
    EXPECT_EQ(doc->md5_hex.size(), 32u);
  } else {
    EXPECT_NE(doc.status().message().find(std::string(kTermsAndConditionsLink)),
              std::string::npos)
        << doc.status().ToString();
    EXPECT_NE(doc.status().code(), Status::Code::kInvalidArgument) << doc.status().ToString();
  }
}

}  // namespace
}  // namespace qstor::grid
