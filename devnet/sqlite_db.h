// A thin RAII wrapper over SQLite for the devnet ledger. Not thread-safe:
// the devnet serialises all ledger access under its own mutex.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace qstor::devnet {

using SqlValue = std::variant<std::nullptr_t, int64_t, double, std::string>;
using SqlRow = std::vector<SqlValue>;

class SqliteDb {
 public:
  static Result<std::unique_ptr<SqliteDb>> Open(const std::string& path);
  ~SqliteDb();

  // Runs one statement with bound parameters; returns all rows.
  Result<std::vector<SqlRow>> Query(const std::string& sql, const std::vector<SqlValue>& args = {});
  Status Exec(const std::string& sql, const std::vector<SqlValue>& args = {});
  // Runs several statements separated by ';' (no parameters).
  Status ExecScript(const std::string& sql);
  int64_t LastInsertId() const;

 private:
  explicit SqliteDb(sqlite3* db) : db_(db) {}
  sqlite3* db_;
};

// Accessors that tolerate NULL / type differences.
int64_t AsInt(const SqlValue& v);
double AsDouble(const SqlValue& v);
std::string AsString(const SqlValue& v);

}  // namespace qstor::devnet
