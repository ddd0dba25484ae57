#include "grid/tfchain/events.h"

#include "grid/tfchain/storage.h"

namespace qstor::tfchain {

const Value* EventRecord::Get(std::string_view field) const {
  for (const auto& f : fields)
    if (f.name == field) return &f.value;
  return nullptr;
}

Result<std::vector<EventRecord>> DecodeEvents(const Metadata& m, std::string_view bytes) {
  auto st = m.FindStorage("System", "Events");
  if (!st.ok()) return st.status();
  auto v = DecodeValueBytes(m.registry, st->entry->value, bytes);
  if (!v.ok()) return v.status().WithContext("System.Events");
  const Value* seq = &*v;
  while (seq->kind == Value::Kind::kComposite && seq->fields.size() == 1) seq = &seq->fields[0].value;
  if (seq->kind != Value::Kind::kSequence && !(seq->kind == Value::Kind::kBytes && seq->str.empty()))
    return Status::Corruption("System.Events: expected a sequence of records");
  std::vector<EventRecord> out;
  for (size_t k = 0; k < seq->items.size(); ++k) {
    const Value& rec = seq->items[k];
    const std::string w = "System.Events[" + std::to_string(k) + "]";
    EventRecord r;
    auto phase = FieldOf(rec, "phase", w);
    if (!phase.ok()) return phase.status();
    if ((*phase)->kind != Value::Kind::kVariant) return Status::Corruption(w + ".phase: expected an enum");
    r.phase = (*phase)->name;
    if (r.phase == "ApplyExtrinsic" && (*phase)->fields.size() == 1) {
      auto i = AsUnsigned((*phase)->fields[0].value, w + ".phase");
      if (!i.ok()) return i.status();
      if (*i > 0xffffffffu) return Status::Corruption(w + ".phase: extrinsic index out of range");
      r.extrinsic_index = uint32_t(*i);
    }
    auto ev = FieldOf(rec, "event", w);
    if (!ev.ok()) return ev.status();
    const Value& outer = **ev;
    if (outer.kind != Value::Kind::kVariant || outer.fields.size() != 1 ||
        outer.fields[0].value.kind != Value::Kind::kVariant)
      return Status::Corruption(w + ".event: expected RuntimeEvent::Pallet(Event)");
    const Value& inner = outer.fields[0].value;
    r.pallet = outer.name;
    r.pallet_index = outer.index;
    r.name = inner.name;
    r.event_index = inner.index;
    r.fields = inner.fields;
    auto topics = FieldOf(rec, "topics", w);
    if (!topics.ok()) return topics.status();
    for (const auto& t : (*topics)->items) {
      auto b = AsBytes(t, w + ".topics");
      if (!b.ok()) return b.status();
      r.topics.push_back(*b);
    }
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::string> DispatchErrorName(const Metadata& m, const Value& e) {
  if (e.kind != Value::Kind::kVariant) return Status::Corruption("DispatchError: expected an enum, got " + e.ToString());
  if (e.name == "Module") {
    const Value* body = &e;
    if (e.fields.size() == 1 && e.fields[0].name.empty()) body = &e.fields[0].value;
    auto idx = FieldOf(*body, "index", "DispatchError::Module");
    if (!idx.ok()) return idx.status();
    auto pallet = AsUnsigned(**idx, "DispatchError::Module.index");
    if (!pallet.ok()) return pallet.status();
    auto err = FieldOf(*body, "error", "DispatchError::Module");
    if (!err.ok()) return err.status();
    uint64_t error_index;
    if (auto bytes = AsBytes(**err, "DispatchError::Module.error"); bytes.ok() && !bytes->empty()) {
      error_index = uint8_t((*bytes)[0]);  // [u8; 4]: the first byte is the variant index
    } else if (auto n = AsUnsigned(**err, "DispatchError::Module.error"); n.ok()) {
      error_index = uint64_t(*n);  // older runtimes: error u8
    } else {
      return Status::Corruption("DispatchError::Module.error: unexpected shape " + (*err)->ToString());
    }
    if (*pallet > 255 || error_index > 255)
      return Status::Corruption("DispatchError::Module: index out of range");
    auto name = m.ErrorName(uint8_t(*pallet), uint8_t(error_index));
    if (!name.ok())
      return "Module{index: " + U128ToString(*pallet) + ", error: " + std::to_string(error_index) + "}";
    return *name;
  }
  std::string name = e.name;
  if (e.fields.size() == 1 && e.fields[0].value.kind == Value::Kind::kVariant)
    name += "." + e.fields[0].value.name;
  return name;
}

Result<ExtrinsicOutcome> OutcomeOf(const Metadata& m, const std::vector<EventRecord>& events,
                                   uint32_t extrinsic_index) {
  bool seen = false;
  ExtrinsicOutcome out;
  std::string interrupted;
  for (const auto& r : events) {
    if (r.extrinsic_index != extrinsic_index) continue;
    if (r.pallet == "System" && r.name == "ExtrinsicSuccess") {
      seen = true;
      out.success = true;
    } else if (r.pallet == "System" && r.name == "ExtrinsicFailed") {
      seen = true;
      out.success = false;
      const Value* de = r.Get("dispatch_error");
      if (de == nullptr && !r.fields.empty()) de = &r.fields[0].value;
      if (de == nullptr) return Status::Corruption("System.ExtrinsicFailed: no dispatch_error");
      auto name = DispatchErrorName(m, *de);
      if (!name.ok()) return name.status();
      out.error = *name;
    } else if (r.pallet == "Utility" && r.name == "BatchInterrupted") {
      const Value* idx = r.Get("index");
      const Value* err = r.Get("error");
      if (idx == nullptr || err == nullptr) return Status::Corruption("Utility.BatchInterrupted: needs index and error");
      auto i = AsUnsigned(*idx, "Utility.BatchInterrupted.index");
      if (!i.ok()) return i.status();
      auto name = DispatchErrorName(m, *err);
      if (!name.ok()) return name.status();
      interrupted = "Utility.BatchInterrupted at item " + U128ToString(*i) + ": " + *name;
    }
  }
  if (!seen)
    return Status::NotFound("events: no ExtrinsicSuccess or ExtrinsicFailed for extrinsic " +
                            std::to_string(extrinsic_index));
  if (out.success && !interrupted.empty()) {
    out.success = false;
    out.error = interrupted;
  }
  return out;
}

Result<std::vector<uint64_t>> CreatedContractIds(const std::vector<EventRecord>& events,
                                                 uint32_t extrinsic_index) {
  std::vector<uint64_t> ids;
  for (const auto& r : events) {
    if (r.extrinsic_index != extrinsic_index || r.pallet != "SmartContractModule" ||
        r.name != "ContractCreated")
      continue;
    if (r.fields.size() != 1) return Status::Corruption("ContractCreated: expected one field (Contract)");
    auto c = ContractFromValue(r.fields[0].value);
    if (!c.ok()) return c.status().WithContext("ContractCreated");
    ids.push_back(c->contract_id);
  }
  return ids;
}

}  // namespace qstor::tfchain
