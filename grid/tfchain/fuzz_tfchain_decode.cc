// libFuzzer target: the decoders of grid/tfchain on arbitrary bytes.
// Byte 0 picks the decoder:
//   0: DecodeMetadata(rest)
//   1: DecodeValueBytes(registry, type id = bytes 1..2 LE, rest)
//   2: DecodeExtrinsic(metadata, rest), then VerifyExtrinsic when it decodes
//   3: DecodeEvents(metadata, rest)
//   4: the typed storage decoders (AccountInfo, Twin, Contract,
//      PricingPolicy, the TFT prices) on rest
//   5: DecodeSigningPayload(metadata, rest); what it accepts must rebuild to
//      the same bytes with SigningPayload (the inverse holds)
// The metadata is the recorded spec-152 one when found (env
// QSTOR_TFCHAIN_METADATA, or ../shared/reference/tfchain/chainMeta-spec152.json
// from the repository root, as scripts/fuzz.sh runs), else a small
// TFChain-like runtime built here.
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "grid/tfchain/events.h"
#include "grid/tfchain/extrinsic.h"
#include "grid/tfchain/metadata.h"
#include "grid/tfchain/scale.h"
#include "grid/tfchain/storage.h"
#include "grid/tfchain/value.h"

using namespace qstor::tfchain;

namespace {

Metadata BuiltIn() {
  Metadata m;
  Registry& r = m.registry;
  auto prim = [&](Primitive p) { return r.Add({{}, {}, TypeDefPrimitive{p}, {}}); };
  TypeId u8 = prim(Primitive::kU8), u32 = prim(Primitive::kU32), u64 = prim(Primitive::kU64),
         u128t = prim(Primitive::kU128);
  TypeId unit = r.Add({{}, {}, TypeDefTuple{}, {}});
  TypeId bytes = r.Add({{}, {}, TypeDefSequence{u8}, {}});
  TypeId h256 = r.Add({{"primitive_types", "H256"}, {}, TypeDefArray{32, u8}, {}});
  TypeId opt64 = r.Add({{"Option"}, {{"T", u64}}, TypeDefVariant{{{"None", {}, 0, {}}, {"Some", {{std::nullopt, u64, {}, {}}}, 1, {}}}}, {}});
  TypeId c32 = r.Add({{}, {}, TypeDefCompact{u32}, {}});
  TypeId c128 = r.Add({{}, {}, TypeDefCompact{u128t}, {}});
  TypeId bits = r.Add({{}, {}, TypeDefBitSequence{u8, unit}, {}});
  TypeId strt = prim(Primitive::kStr);
  TypeId i128t = prim(Primitive::kI128);
  TypeId chart = prim(Primitive::kChar);
  TypeId u256 = prim(Primitive::kU256);
  TypeId misc = r.Add({{"Misc"}, {}, TypeDefTuple{{bits, strt, i128t, chart, u256, c128}}, {}});
  TypeId call = r.Add({{"pallet_smart_contract", "pallet", "Call"}, {},
                       TypeDefVariant{{{"create_node_contract",
                                        {{"node_id", u32, {}, {}}, {"deployment_hash", h256, {}, {}},
                                         {"deployment_data", bytes, {}, {}}, {"public_ips", u32, {}, {}},
                                         {"solution_provider_id", opt64, {}, {}}}, 0, {}},
                                       {"cancel_contract", {{"contract_id", u64, {}, {}}}, 2, {}},
                                       {"misc", {{"m", misc, {}, {}}}, 3, {}}}},
                       {}});
  TypeId err = r.Add({{"pallet_smart_contract", "pallet", "Error"}, {},
                      TypeDefVariant{{{"TwinNotExists", {}, 0, {}}, {"ContractIsNotUnique", {}, 1, {}}}}, {}});
  TypeId ev = r.Add({{"pallet_smart_contract", "pallet", "Event"}, {},
                     TypeDefVariant{{{"NodeContractCanceled", {{"contract_id", u64, {}, {}}}, 2, {}}}}, {}});
  TypeId rcall = r.Add({{"tfchain_runtime", "RuntimeCall"}, {}, TypeDefVariant{{{"SmartContractModule", {{std::nullopt, call, {}, {}}}, 26, {}}}}, {}});
  TypeId revent = r.Add({{"tfchain_runtime", "RuntimeEvent"}, {}, TypeDefVariant{{{"SmartContractModule", {{std::nullopt, ev, {}, {}}}, 26, {}}}}, {}});
  TypeId phase = r.Add({{"frame_system", "Phase"}, {}, TypeDefVariant{{{"ApplyExtrinsic", {{std::nullopt, u32, {}, {}}}, 0, {}}, {"Finalization", {}, 1, {}}}}, {}});
  TypeId hashes = r.Add({{}, {}, TypeDefSequence{h256}, {}});
  TypeId record = r.Add({{"frame_system", "EventRecord"}, {{"E", revent}, {"T", h256}},
                         TypeDefComposite{{{"phase", phase, {}, {}}, {"event", revent, {}, {}}, {"topics", hashes, {}, {}}}}, {}});
  TypeId records = r.Add({{}, {}, TypeDefSequence{record}, {}});
  TypeId xt = r.Add({{"sp_runtime", "UncheckedExtrinsic"}, {{"Call", rcall}}, TypeDefSequence{u8}, {}});
  TypeId nonce = r.Add({{"CheckNonce"}, {}, TypeDefComposite{{{std::nullopt, c32, {}, {}}}}, {}});
  TypeId tip = r.Add({{"ChargeTransactionPayment"}, {}, TypeDefComposite{{{std::nullopt, c128, {}, {}}}}, {}});
  Pallet sys;
  sys.name = "System";
  sys.index = 0;
  sys.storage = PalletStorage{"System", {StorageEntry{"Events", StorageModifier::kDefault, false, {}, 0, records, std::string(1, '\0'), {}}}};
  Pallet scm;
  scm.name = "SmartContractModule";
  scm.index = 26;
  scm.calls = call;
  scm.events = ev;
  scm.errors = err;
  m.pallets = {sys, scm};
  m.extrinsic.type = xt;
  m.extrinsic.signed_extensions = {{"CheckNonZeroSender", unit, unit}, {"CheckSpecVersion", unit, u32},
                                   {"CheckTxVersion", unit, u32}, {"CheckGenesis", unit, h256},
                                   {"CheckMortality", unit, h256}, {"CheckNonce", nonce, unit},
                                   {"CheckWeight", unit, unit}, {"ChargeTransactionPayment", tip, unit},
                                   {"ContractIdProvides", unit, unit}};
  m.runtime_type = unit;
  return m;
}

std::unique_ptr<Metadata> Load() {
  const char* env = std::getenv("QSTOR_TFCHAIN_METADATA");
  std::ifstream in(env && *env ? env : "../shared/reference/tfchain/chainMeta-spec152.json");
  if (in) {
    std::stringstream ss;
    ss << in.rdbuf();
    auto j = nlohmann::json::parse(ss.str(), nullptr, false);
    if (!j.is_discarded() && j.contains("result") && j["result"].is_string()) {
      auto m = DecodeMetadataHex(j["result"].get<std::string>());
      if (m.ok()) return std::make_unique<Metadata>(std::move(*m));
    }
  }
  return std::make_unique<Metadata>(BuiltIn());
}

const Metadata& Meta() {
  static const std::unique_ptr<Metadata> m = Load();
  return *m;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const Metadata& m = Meta();
  switch (data[0] % 6) {
    case 0: {
      auto md = DecodeMetadata(in.substr(1));
      if (md.ok() && EncodeMetadata(*md) != in.substr(1)) std::abort();  // round trip must hold
      break;
    }
    case 1: {
      if (size < 3) return 0;
      TypeId id = TypeId(data[1] | (data[2] << 8));
      if (!m.registry.types.empty()) id %= TypeId(m.registry.types.size() + 4);  // a few unknown ids too
      auto v = DecodeValueBytes(m.registry, id, in.substr(3));
      if (v.ok()) {
        auto back = EncodeValueBytes(m.registry, id, *v);
        if (!back.ok() || *back != in.substr(3)) std::abort();  // decoded values re-encode identically
      }
      break;
    }
    case 2: {
      auto x = DecodeExtrinsic(m, in.substr(1));
      if (x.ok()) {
        ChainInfo c;
        (void)VerifyExtrinsic(m, *x, c);
      }
      break;
    }
    case 3:
      (void)DecodeEvents(m, in.substr(1));
      break;
    case 4: {
      const std::optional<std::string> bytes{std::string(in.substr(1))};
      (void)DecodeAccountInfo(m, bytes);
      (void)DecodeTwin(m, bytes);
      (void)DecodeContract(m, bytes);
      (void)DecodePricingPolicy(m, bytes);
      for (const char* e : {"TftPrice", "AverageTftPrice", "MinTftPrice", "MaxTftPrice"}) (void)DecodeTftPrice(m, e, bytes);
      break;
    }
    case 5: {
      auto p = DecodeSigningPayload(m, in.substr(1));
      if (p.ok()) {
        auto back = SigningPayload(m, p->call_bytes, p->extra, p->chain);
        if (!back.ok() || *back != in.substr(1)) std::abort();  // a decoded payload rebuilds identically
      }
      break;
    }
  }
  return 0;
}
