#include "devnet/sqlite_db.h"

#include <sqlite3.h>

namespace qstor::devnet {

Result<std::unique_ptr<SqliteDb>> SqliteDb::Open(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    if (db) sqlite3_close(db);
    return Status::IOError("ledger " + path + ": " + msg);
  }
  sqlite3_busy_timeout(db, 5000);
  auto out = std::unique_ptr<SqliteDb>(new SqliteDb(db));
  QSTOR_RETURN_IF_ERROR(out->ExecScript("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"));
  return out;
}

SqliteDb::~SqliteDb() { sqlite3_close(db_); }

Result<std::vector<SqlRow>> SqliteDb::Query(const std::string& sql,
                                            const std::vector<SqlValue>& args) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), int(sql.size()), &st, nullptr) != SQLITE_OK) {
    return Status::Internal(std::string("ledger: prepare: ") + sqlite3_errmsg(db_));
  }
  for (size_t i = 0; i < args.size(); ++i) {
    int idx = int(i + 1);
    const auto& a = args[i];
    if (std::holds_alternative<std::nullptr_t>(a)) {
      sqlite3_bind_null(st, idx);
    } else if (auto* n = std::get_if<int64_t>(&a)) {
      sqlite3_bind_int64(st, idx, *n);
    } else if (auto* d = std::get_if<double>(&a)) {
      sqlite3_bind_double(st, idx, *d);
    } else {
      const auto& s = std::get<std::string>(a);
      sqlite3_bind_text(st, idx, s.data(), int(s.size()), SQLITE_TRANSIENT);
    }
  }
  std::vector<SqlRow> rows;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    int n = sqlite3_column_count(st);
    SqlRow row;
    row.reserve(n);
    for (int c = 0; c < n; ++c) {
      switch (sqlite3_column_type(st, c)) {
        case SQLITE_INTEGER:
          row.emplace_back(int64_t(sqlite3_column_int64(st, c)));
          break;
        case SQLITE_FLOAT:
          row.emplace_back(sqlite3_column_double(st, c));
          break;
        case SQLITE_NULL:
          row.emplace_back(nullptr);
          break;
        default: {
          const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, c));
          row.emplace_back(std::string(p ? p : "", size_t(sqlite3_column_bytes(st, c))));
        }
      }
    }
    rows.push_back(std::move(row));
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) return Status::IOError(std::string("ledger: ") + sqlite3_errmsg(db_));
  return rows;
}

Status SqliteDb::Exec(const std::string& sql, const std::vector<SqlValue>& args) {
  auto r = Query(sql, args);
  return r.ok() ? Status::OK() : r.status();
}

Status SqliteDb::ExecScript(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string m = err ? err : "unknown";
    sqlite3_free(err);
    return Status::IOError("ledger: " + m);
  }
  return Status::OK();
}

int64_t SqliteDb::LastInsertId() const { return sqlite3_last_insert_rowid(db_); }

int64_t AsInt(const SqlValue& v) {
  if (auto* n = std::get_if<int64_t>(&v)) return *n;
  if (auto* d = std::get_if<double>(&v)) return int64_t(*d);
  if (auto* s = std::get_if<std::string>(&v)) return std::atoll(s->c_str());
  return 0;
}
double AsDouble(const SqlValue& v) {
  if (auto* d = std::get_if<double>(&v)) return *d;
  if (auto* n = std::get_if<int64_t>(&v)) return double(*n);
  return 0;
}
std::string AsString(const SqlValue& v) {
  if (auto* s = std::get_if<std::string>(&v)) return *s;
  if (auto* n = std::get_if<int64_t>(&v)) return std::to_string(*n);
  return "";
}

}  // namespace qstor::devnet
