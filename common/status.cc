#include "common/status.h"

namespace qstor {

const char* CodeName(Status::Code code) {
  switch (code) {
    case Status::Code::kOk: return "ok";
    case Status::Code::kInvalidArgument: return "invalid argument";
    case Status::Code::kNotFound: return "not found";
    case Status::Code::kAlreadyExists: return "already exists";
    case Status::Code::kPermissionDenied: return "permission denied";
    case Status::Code::kUnavailable: return "unavailable";
    case Status::Code::kTimeout: return "timeout";
    case Status::Code::kCorruption: return "corruption";
    case Status::Code::kResourceExhausted: return "resource exhausted";
    case Status::Code::kFailedPrecondition: return "failed precondition";
    case Status::Code::kIOError: return "I/O error";
    case Status::Code::kProtocol: return "protocol error";
    case Status::Code::kNotImplemented: return "not built yet";
    case Status::Code::kCancelled: return "cancelled";
    case Status::Code::kInternal: return "internal error";
    case Status::Code::kAborted: return "aborted";
    case Status::Code::kUnauthenticated: return "unauthenticated";
  }
  return "unknown";
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  return std::string(CodeName(code_)) + ": " + message_;
}

Status Status::WithContext(const std::string& context) const {
  if (ok()) return *this;
  return Status(code_, context + ": " + message_);
}

}  // namespace qstor
