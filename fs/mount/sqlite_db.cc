#include "fs/mount/sqlite_db.h"

namespace qstor::fs::mount {

Query::~Query() {
  if (st_ != nullptr) {
    sqlite3_reset(st_);
    sqlite3_clear_bindings(st_);
  }
}

Query& Query::Bind(int i, int64_t v) {
  sqlite3_bind_int64(st_, i, v);
  return *this;
}
Query& Query::BindBlob(int i, std::string_view v) {
  sqlite3_bind_blob64(st_, i, v.data(), v.size(), SQLITE_TRANSIENT);
  return *this;
}
Query& Query::BindText(int i, std::string_view v) {
  sqlite3_bind_text64(st_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  return *this;
}
Query& Query::BindNull(int i) {
  sqlite3_bind_null(st_, i);
  return *this;
}

bool Query::Step() {
  if (st_ == nullptr) {
    if (status_.ok()) status_ = Status::Internal("sqlite: statement failed to prepare");
    return false;
  }
  int rc = sqlite3_step(st_);
  if (rc == SQLITE_ROW) return true;
  if (rc != SQLITE_DONE) {
    status_ = Status::IOError(std::string("metadata db: ") + sqlite3_errmsg(sqlite3_db_handle(st_)) +
                              " in: " + sqlite3_sql(st_));
  }
  return false;
}

Status Query::Run() {
  while (Step()) {
  }
  return status_;
}

std::string Query::Blob(int col) const {
  const void* p = sqlite3_column_blob(st_, col);
  int n = sqlite3_column_bytes(st_, col);
  if (p == nullptr || n <= 0) return std::string();
  return std::string(static_cast<const char*>(p), static_cast<size_t>(n));
}

Result<std::unique_ptr<SqliteDb>> SqliteDb::Open(const std::string& path) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = raw ? sqlite3_errmsg(raw) : "out of memory";
    if (raw) sqlite3_close(raw);
    return Status::IOError("metadata db " + path + ": " + msg);
  }
  std::unique_ptr<SqliteDb> db(new SqliteDb(raw));
  sqlite3_busy_timeout(raw, 5000);
  // One process (the mount) owns the database: exclusive locking keeps the
  // WAL index in process memory, so a transaction costs no fcntl locks and no
  // shared-memory file traffic (docs/mount.md, "Metadata database").
  QSTOR_RETURN_IF_ERROR(db->Exec("PRAGMA locking_mode=EXCLUSIVE"));
  QSTOR_RETURN_IF_ERROR(db->Exec("PRAGMA journal_mode=WAL"));
  QSTOR_RETURN_IF_ERROR(db->Exec("PRAGMA synchronous=NORMAL"));
  QSTOR_RETURN_IF_ERROR(db->Exec("PRAGMA foreign_keys=OFF"));
  QSTOR_RETURN_IF_ERROR(db->Exec("PRAGMA cache_size=-32768"));
  return db;
}

SqliteDb::~SqliteDb() {
  for (auto& [k, st] : cache_) sqlite3_finalize(st);
  sqlite3_close(db_);
}

Status SqliteDb::Exec(const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    return Status::IOError("metadata db: " + msg + " in: " + sql.substr(0, 80));
  }
  return Status::OK();
}

Query SqliteDb::Prepare(const char* sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) return Query(this, it->second);
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, nullptr) != SQLITE_OK) {
    return Query(this, nullptr);
  }
  cache_[sql] = st;
  return Query(this, st);
}

Status SqliteDb::Begin(bool durable) {
  if (durable) {
    QSTOR_RETURN_IF_ERROR(Exec("PRAGMA synchronous=FULL"));
    durable_txn_ = true;
  }
  Status st = Exec("BEGIN IMMEDIATE");
  if (!st.ok() && durable_txn_) {
    durable_txn_ = false;
    (void)Exec("PRAGMA synchronous=NORMAL");
  }
  return st;
}

Status SqliteDb::Commit() {
  Status st = Exec("COMMIT");
  if (durable_txn_) {
    durable_txn_ = false;
    Status st2 = Exec("PRAGMA synchronous=NORMAL");
    if (st.ok()) st = st2;
  }
  return st;
}

void SqliteDb::Rollback() {
  (void)Exec("ROLLBACK");
  if (durable_txn_) {
    durable_txn_ = false;
    (void)Exec("PRAGMA synchronous=NORMAL");
  }
}

}  // namespace qstor::fs::mount
