#include "fs/mount/object_store_sink.h"

#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include <nlohmann/json.hpp>
#include <sodium.h>

namespace qstor::fs::mount {
namespace {

constexpr size_t kChunk = 4u << 20;
constexpr size_t kInlineMax = 4096;  // records up to this size are stored inline

class ObjectStoreSink final : public SegmentSink {
 public:
  explicit ObjectStoreSink(std::shared_ptr<fs::ObjectStore> store) : store_(std::move(store)) {}

  Status Put(const std::string& id, std::string_view data) override {
    auto r = store_->Put("seg/" + id, data);
    return r.ok() ? Status::OK() : r.status();
  }
  Result<std::string> Get(const std::string& id) override { return store_->Get("seg/" + id); }
  Status Delete(const std::string& id) override {
    Status st = store_->Delete("seg/" + id);
    if (st.code() == Status::Code::kNotFound) return Status::OK();
    return st;
  }

  Status PutMeta(const std::string& name, std::string_view data) override {
    // Writes to one record are serialized; different records (the snapshot
    // and the writer lease) do not wait for each other.
    std::lock_guard l(*RecordMutex(name));
    uint64_t old_gen = 0, old_chunks = 0;
    auto rec = store_->GetBlob("meta/" + name);
    if (rec.ok()) {
      auto j = nlohmann::json::parse(*rec, nullptr, false);
      if (!j.is_discarded()) {
        old_gen = j.value("gen", uint64_t{0});
        old_chunks = j.value("chunks", uint64_t{0});
      }
    } else if (rec.status().code() != Status::Code::kNotFound) {
      return rec.status().WithContext("metadata record " + name);
    }
    uint64_t gen = old_gen + 1;
    nlohmann::json j;
    if (data.size() <= kInlineMax) {
      // Small records (fsmeta.head, fsmeta.lease) live in the record itself:
      // one backend write, no chunks.
      j = {{"gen", gen}, {"chunks", 0}, {"size", data.size()}, {"inline", ToHex(data)}};
    } else {
      uint64_t chunks = (data.size() + kChunk - 1) / kChunk;
      for (uint64_t i = 0; i < chunks; i++) {
        auto r = store_->Put(ChunkId(name, gen, i), data.substr(i * kChunk, kChunk));
        if (!r.ok()) return r.status().WithContext("metadata chunk " + std::to_string(i));
      }
      j = {{"gen", gen}, {"chunks", chunks}, {"size", data.size()}};
    }
    QSTOR_RETURN_IF_ERROR(store_->PutBlob("meta/" + name, j.dump()));
    if (old_gen != 0) {
      for (uint64_t i = 0; i < old_chunks; i++) (void)store_->Delete(ChunkId(name, old_gen, i));
    }
    return Status::OK();
  }

  Result<std::string> GetMeta(const std::string& name) override {
    auto rec = store_->GetBlob("meta/" + name);
    if (!rec.ok()) return rec.status();
    auto j = nlohmann::json::parse(*rec, nullptr, false);
    if (j.is_discarded() || !j.contains("gen") || !j.contains("chunks") || !j.contains("size")) {
      return Status::Corruption("metadata record " + name + " is not valid");
    }
    uint64_t gen = j["gen"].get<uint64_t>(), chunks = j["chunks"].get<uint64_t>();
    uint64_t size = j["size"].get<uint64_t>();
    if (j.contains("inline")) {
      auto out = FromHex(j["inline"].get<std::string>());
      if (!out || out->size() != size) {
        return Status::Corruption("metadata record " + name + ": bad inline content");
      }
      return *out;
    }
    std::string out;
    out.reserve(size);
    for (uint64_t i = 0; i < chunks; i++) {
      auto c = store_->Get(ChunkId(name, gen, i));
      if (!c.ok()) return c.status().WithContext("metadata chunk " + std::to_string(i));
      out += *c;
    }
    if (out.size() != size) {
      return Status::Corruption("metadata " + name + ": " + std::to_string(out.size()) +
                                " bytes, record says " + std::to_string(size));
    }
    return out;
  }

  std::string Describe() const override {
    const auto& o = store_->options();
    return "grid:" + std::to_string(o.k) + "+" + std::to_string(o.m) + " over " +
           std::to_string(store_->data_backends().size()) + " 0-db backends";
  }

 private:
  static std::string ChunkId(const std::string& name, uint64_t gen, uint64_t i) {
    return "meta/" + name + "/" + std::to_string(gen) + "/" + std::to_string(i);
  }
  // Inline records are hex in the JSON record (libsodium's codec).
  static std::string ToHex(std::string_view d) {
    std::string out(d.size() * 2 + 1, '\0');
    sodium_bin2hex(out.data(), out.size(), reinterpret_cast<const unsigned char*>(d.data()),
                   d.size());
    out.pop_back();
    return out;
  }
  // nullopt unless all of `h` is hex digits (an even number of them).
  static std::optional<std::string> FromHex(const std::string& h) {
    std::string out(h.size() / 2, '\0');
    size_t len = 0;
    if (h.size() % 2 != 0 ||
        sodium_hex2bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), h.data(),
                       h.size(), nullptr, &len, nullptr) != 0 ||
        len != out.size()) {
      return std::nullopt;
    }
    return out;
  }
  std::shared_ptr<std::mutex> RecordMutex(const std::string& name) {
    std::lock_guard l(mu_);
    auto& m = record_mu_[name];
    if (!m) m = std::make_shared<std::mutex>();
    return m;
  }

  std::shared_ptr<fs::ObjectStore> store_;
  std::mutex mu_;  // guards record_mu_
  std::map<std::string, std::shared_ptr<std::mutex>> record_mu_;
};

}  // namespace

std::unique_ptr<SegmentSink> NewObjectStoreSink(std::shared_ptr<fs::ObjectStore> store) {
  return std::make_unique<ObjectStoreSink>(std::move(store));
}

}  // namespace qstor::fs::mount
