#include "common/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

namespace qstor {
namespace {

// %* in the pattern: the log message as a JSON string (quoted, escaped), so
// that --log-format json emits one valid JSON object per line.
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string text(msg.payload.data(), msg.payload.size());
    std::string quoted = nlohmann::json(text).dump(-1, ' ', false,
                                                   nlohmann::json::error_handler_t::replace);
    dest.append(quoted.data(), quoted.data() + quoted.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

}  // namespace

Status InitLogging(const std::string& level, LogFormat format, bool color) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") {
    return Status::InvalidArgument("--log-level \"" + level +
                                   "\": use trace, debug, info, warn, error or off");
  }
  std::shared_ptr<spdlog::logger> logger;
  if (color && format == LogFormat::kText) {
    auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    logger = std::make_shared<spdlog::logger>("qstor", sink);
  } else {
    logger = std::make_shared<spdlog::logger>(
        "qstor", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  }
  if (format == LogFormat::kJson) {
    auto f = std::make_unique<spdlog::pattern_formatter>();
    f->add_flag<JsonMessageFlag>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","pid":%P,"msg":%*})");
    logger->set_formatter(std::move(f));
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  }
  logger->set_level(lvl);
  spdlog::set_default_logger(logger);
  return Status::OK();
}

void DisableLogColors() {
  auto logger = spdlog::default_logger();
  if (!logger) return;
  for (auto& sink : logger->sinks()) {
    if (auto c = std::dynamic_pointer_cast<spdlog::sinks::stderr_color_sink_mt>(sink)) {
      c->set_color_mode(spdlog::color_mode::never);
    }
  }
}

}  // namespace qstor
