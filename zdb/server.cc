#include "zdb/server.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <charconv>
#include <cctype>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <optional>
#include <random>
#include <set>

#include <boost/asio.hpp>
#include <spdlog/spdlog.h>

#include "zdb/resp.h"
#include "zdb/sha1.h"
#include "zdb/store.h"

namespace qstor::zdb {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kMaxKeyLen = 255;
constexpr size_t kMaxPayload = 8u << 20;
constexpr size_t kMaxNsLen = 128;
constexpr size_t kMaxMget = 1023;
constexpr size_t kScanPage = 32;
constexpr size_t kMaxBatchReply = 8u << 20;    // write before executing more
constexpr size_t kMaxMgetReply = 64u << 20;
constexpr size_t kMaxRequest = kMaxPayload + (1u << 20);
constexpr size_t kKeepCapacity = 1u << 20;  // reply buffers larger than this are freed

std::string Upper(std::string_view v) {
  std::string s(v);
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

using Argv = std::vector<std::string_view>;

// Store errors read "zdb namespace 'x': what"; clients get "what".
std::string Bare(const Status& st) {
  const std::string& m = st.message();
  if (m.rfind("zdb namespace '", 0) == 0) {
    size_t p = m.find("': ");
    if (p != std::string::npos) return m.substr(p + 3);
  }
  return m;
}

std::string RandomHex(size_t bytes) {
  static std::random_device rd;
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < bytes; ++i) {
    unsigned v = rd() & 0xff;
    s.push_back(hex[v >> 4]);
    s.push_back(hex[v & 15]);
  }
  return s;
}

std::string Fmt2(double v) {
  char b[64];
  std::snprintf(b, sizeof(b), "%.2f", v);
  return b;
}

}  // namespace

struct Session;

struct Server::Impl {
  ServerOptions opt;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  asio::steady_timer sync_timer{io};
  asio::steady_timer compact_timer{io};
  asio::signal_set signals{io};
  std::unique_ptr<Store> store;
  std::set<std::shared_ptr<Session>> sessions;
  std::map<asio::ip::address, size_t> per_peer;  // open sessions by peer address
  bool stopping = false;
  Clock::time_point started = Clock::now();
  uint64_t commands = 0, connections = 0;
  Status final_status;

  std::vector<std::shared_ptr<Session>> sync_waiters;
  bool sync_posted = false;
  // fdatasync runs here, off the event loop, so reads (and writes to be
  // acknowledged by the next round) go on while the disk flushes.
  asio::thread_pool syncer{1};
  bool sync_running = false;

  void Accept();
  void GroupSync();
  void StartSync(std::vector<std::shared_ptr<Session>> waiters);
  void ScheduleSync();
  void ScheduleCompact();
  void Shutdown();
};

struct Session : std::enable_shared_from_this<Session> {
  Server::Impl* srv;
  tcp::socket sock;
  asio::steady_timer timer;
  std::string rbuf;
  Argv argv;  // views into rbuf of the request being executed
  std::vector<char> chunk = std::vector<char>(64 * 1024);
  OutBuf wbuf;
  OutBuf wout;  // replies being written; see Write()
  std::string ns = "default";
  bool writable = true;
  bool admin = false;
  std::string nonce;
  bool closing = false;     // close after the pending write
  bool eof = false;
  bool dirty = false;       // a write happened in this batch
  bool greeted = false;     // a first complete request arrived (header_timeout over)
  bool reserved = false;    // in the admin's slot: only AUTH until admin
  std::optional<asio::ip::address> peer;  // counted in srv->per_peer while set
  Clock::time_point deadline;
  ParseLimits limits;

  Session(Server::Impl* s, tcp::socket so, asio::ip::address from, bool in_reserved_slot)
      : srv(s), sock(std::move(so)), timer(s->io), reserved(in_reserved_slot), peer(from) {
    limits.max_bulk = kMaxPayload;
    limits.max_elements = kMaxMget + 1;
    admin = srv->opt.admin_password.empty();
    ++srv->per_peer[from];
  }

  void Start() {
    boost::system::error_code ec;
    sock.set_option(tcp::no_delay(true), ec);
    Touch();
    ArmTimer();
    Read();
  }

  void Touch() {
    deadline = Clock::now() + (greeted ? srv->opt.idle_timeout
                                       : std::min(srv->opt.header_timeout, srv->opt.idle_timeout));
  }

  void ArmTimer() {
    auto self = shared_from_this();
    timer.expires_at(deadline);
    timer.async_wait([self](const boost::system::error_code& ec) {
      if (ec || self->closing) return;
      if (Clock::now() >= self->deadline) {
        self->Close();  // idle, or a request that never completes
      } else {
        self->ArmTimer();
      }
    });
  }

  void Close() {
    if (closing && !sock.is_open()) return;
    closing = true;
    boost::system::error_code ec;
    sock.shutdown(tcp::socket::shutdown_both, ec);
    sock.close(ec);
    timer.cancel();
    if (peer) {
      auto it = srv->per_peer.find(*peer);
      if (it != srv->per_peer.end() && --it->second == 0) srv->per_peer.erase(it);
      peer.reset();
    }
    srv->sessions.erase(shared_from_this());
  }

  void Read() {
    auto self = shared_from_this();
    sock.async_read_some(asio::buffer(chunk), [self](const boost::system::error_code& ec, size_t n) {
      if (self->closing) return;
      if (ec) {
        if (ec == asio::error::eof) {
          self->eof = true;  // half-closed: answer what is complete, then close
        } else {
          self->Close();
          return;
        }
      } else {
        self->rbuf.append(self->chunk.data(), n);
      }
      self->Process();
    });
  }

  // Executes complete requests, then syncs (if needed) and writes replies.
  void Process() {
    // Requests are parsed in place; `pos` advances over executed ones and
    // the buffer is compacted once per batch, not once per request.
    size_t pos = 0;
    while (wbuf.size() < kMaxBatchReply && !closing) {
      size_t used = 0;
      std::string err;
      std::string_view rest = std::string_view(rbuf).substr(pos);
      auto r = ParseRequest(rest, limits, &argv, &used, &err);
      if (r == ParseResult::kNeedMore) {
        if (rest.size() > kMaxRequest) {
          // Many large arguments add up: one request may not exceed one
          // maximal SET (8 MiB payload + key + framing).
          AppendError(&wbuf, "Request too large");
          closing = true;
        }
        break;
      }
      if (r == ParseResult::kError) {
        AppendError(&wbuf, err);
        closing = true;  // cannot resynchronize: reply, then close
        break;
      }
      greeted = true;
      Touch();
      if (!argv.empty()) Execute(argv);
      pos += used;
    }
    if (closing) {
      rbuf.clear();
    } else if (pos) {
      rbuf.erase(0, pos);
    }
    if (dirty && srv->opt.sync_interval.count() == 0) {
      // Group commit: every session that wrote in this round of the event
      // loop waits for one shared fdatasync, then gets its replies.
      dirty = false;
      srv->sync_waiters.push_back(shared_from_this());
      if (!srv->sync_posted) {
        srv->sync_posted = true;
        asio::post(srv->io, [s = srv] { s->GroupSync(); });
      }
      return;
    }
    dirty = false;
    Finish();
  }

  // After execution (and sync): send replies, or read more, or close.
  void Finish() {
    if (closing && !sock.is_open()) return;
    if (!wbuf.empty()) {
      Write();
    } else if (closing || eof) {
      Close();
    } else {
      Read();
    }
  }

  void Write() {
    auto self = shared_from_this();
    // Double buffering: replies being sent stay in `wout` while the next
    // batch fills `wbuf`; both keep their capacity, so a steady stream of
    // GETs reallocates (and re-copies) nothing.
    wout.swap(wbuf);  // wbuf is now the empty `wout` of the last write
    asio::async_write(sock, asio::buffer(wout.data(), wout.size()),
                      [self](const boost::system::error_code& ec, size_t) {
                        self->wout.clear();
                        if (self->wout.capacity() > kKeepCapacity) self->wout.release();
                        if (ec) {
                          self->Close();
                          return;
                        }
                        self->Touch();
                        if (self->closing) {
                          self->Close();
                          if (self->stop_after_write) self->srv->Shutdown();
                          return;
                        }
                        self->Process();  // more complete requests may be buffered
                      });
  }

  bool stop_after_write = false;

  // ---- commands ----------------------------------------------------------
  Namespace* Current() { return srv->store->Get(ns); }

  bool Args(const Argv& a, size_t n) {
    if (a.size() != n) {
      AppendError(&wbuf, "Invalid argument");
      return false;
    }
    return true;
  }
  bool Admin() {
    if (!admin) AppendError(&wbuf, "Permission denied");
    return admin;
  }

  void Execute(const Argv& a) {
    ++srv->commands;
    std::string cmd = Upper(a[0]);
    if (reserved && !admin && cmd != "AUTH") {
      // The last slot is the admin's: the server is otherwise full.
      AppendError(&wbuf, "Too many clients");
      closing = true;
      return;
    }
    if (cmd == "PING") {
      if (a.size() == 1) AppendStatus(&wbuf, "PONG");
      else if (a.size() == 2) AppendBulk(&wbuf, a[1]);
      else AppendError(&wbuf, "Invalid argument");
      return;
    }
    if (cmd == "TIME") return CmdTime();
    if (cmd == "INFO") return CmdInfo();
    if (cmd == "AUTH") return CmdAuth(a);
    if (cmd == "SELECT") return CmdSelect(a);
    if (cmd == "NSNEW") return CmdNsNew(a);
    if (cmd == "NSDEL") return CmdNsDel(a);
    if (cmd == "NSLIST") return CmdNsList();
    if (cmd == "NSSET") return CmdNsSet(a);
    if (cmd == "NSINFO") return CmdNsInfo(a);
    if (cmd == "STOP") {
      if (!Admin()) return;
      AppendStatus(&wbuf, "OK");
      closing = true;
      stop_after_write = true;
      return;
    }
    // Data commands work on the selected namespace.
    Namespace* n = Current();
    if (!n) {
      AppendError(&wbuf, "Namespace not available anymore");
      ns = "default";
      writable = true;
      return;
    }
    if (cmd == "DBSIZE") return AppendInteger(&wbuf, static_cast<int64_t>(n->entries()));
    if (cmd == "SET") return CmdSet(n, a);
    if (cmd == "GET") return CmdGet(n, a);
    if (cmd == "MGET") return CmdMget(n, a);
    if (cmd == "DEL") return CmdDel(n, a);
    if (cmd == "EXISTS") {
      if (!Args(a, 2) || !KeyOk(a[1])) return;
      return AppendInteger(&wbuf, n->Find(a[1]).valid() ? 1 : 0);
    }
    if (cmd == "CHECK") {
      if (!Args(a, 2) || !KeyOk(a[1])) return;
      auto r = n->Check(a[1]);
      if (!r.ok()) {
        if (r.status().code() == Status::Code::kNotFound) return AppendNil(&wbuf);
        return AppendError(&wbuf, Bare(r.status()));
      }
      return AppendInteger(&wbuf, *r ? 1 : 0);
    }
    if (cmd == "LENGTH" || cmd == "KEYTIME") {
      if (!Args(a, 2) || !KeyOk(a[1])) return;
      Loc l = n->Find(a[1]);
      if (!l.valid()) return AppendNil(&wbuf);
      return AppendInteger(&wbuf, cmd == "LENGTH" ? l.size : l.timestamp);
    }
    if (cmd == "KEYCUR") {
      if (!Args(a, 2) || !KeyOk(a[1])) return;
      auto r = n->KeyCursor(a[1]);
      if (!r.ok()) return AppendError(&wbuf, "Key not found");
      return AppendBulk(&wbuf, *r);
    }
    if (cmd == "SCAN" || cmd == "RSCAN") return CmdScan(n, a, cmd == "RSCAN");
    if (cmd == "FLUSH") {
      if (!n->props().password.size() || n->props().is_public) {
        return AppendError(&wbuf, "Flushing public namespace denied");
      }
      if (!writable) return AppendError(&wbuf, "Namespace is in read-only mode");
      Status st = n->Flush();
      if (!st.ok()) return AppendError(&wbuf, "Internal Server Error");
      dirty = true;
      return AppendStatus(&wbuf, "OK");
    }
    AppendError(&wbuf, "Command not supported");
  }

  bool KeyOk(std::string_view k) {
    if (k.size() > kMaxKeyLen) {
      AppendError(&wbuf, "Key too large");
      return false;
    }
    return true;
  }
  bool NsNameOk(std::string_view name) {
    if (name.size() > kMaxNsLen) {
      AppendError(&wbuf, "Namespace too long");
      return false;
    }
    return true;
  }

  void CmdTime() {
    auto now = std::chrono::system_clock::now().time_since_epoch();
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(now).count();
    AppendArrayHeader(&wbuf, 2);
    AppendBulk(&wbuf, std::to_string(us / 1000000));
    AppendBulk(&wbuf, std::to_string(us % 1000000));
  }

  void CmdInfo() {
    auto up = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - srv->started).count();
    std::string s = "# server\n";
    s += "server_name: qstor-zdb\n";
    s += "server_compat: 0-db 2.0 protocol\n";
    s += "uptime_seconds: " + std::to_string(up) + "\n";
    s += "sync_policy: " +
         (srv->opt.sync_interval.count() == 0 ? std::string("always")
                                              : std::to_string(srv->opt.sync_interval.count()) + "ms") +
         "\n";
    s += "# clients\n";
    s += "clients_connected: " + std::to_string(srv->sessions.size()) + "\n";
    s += "clients_total: " + std::to_string(srv->connections) + "\n";
    s += "# stats\n";
    s += "commands_executed: " + std::to_string(srv->commands) + "\n";
    s += "namespaces: " + std::to_string(srv->store->List().size()) + "\n";
    AppendBulk(&wbuf, s);
  }

  void CmdAuth(const Argv& a) {
    if (a.size() == 3) {
      if (Upper(a[1]) != "SECURE") return AppendError(&wbuf, "Only SECURE extra method supported");
      if (Upper(a[2]) == "CHALLENGE") {
        nonce = RandomHex(16);
        return AppendStatus(&wbuf, nonce);
      }
      if (srv->opt.admin_password.empty()) return AppendError(&wbuf, "Authentication disabled");
      if (nonce.empty()) {
        return AppendError(&wbuf, "No CHALLENGE requested, secure authentication not available");
      }
      if (a[2].size() != 40) return AppendError(&wbuf, "Invalid hash length");
      bool ok = a[2] == SecureProof(nonce, srv->opt.admin_password);
      nonce.clear();
      if (!ok) return AppendError(&wbuf, "Access denied");
      admin = true;
      return AppendStatus(&wbuf, "OK");
    }
    if (a.size() != 2) return AppendError(&wbuf, "Unexpected arguments");
    if (srv->opt.admin_password.empty()) return AppendError(&wbuf, "Authentication disabled");
    if (a[1].size() > 128) return AppendError(&wbuf, "Password too long");
    if (a[1] != srv->opt.admin_password) return AppendError(&wbuf, "Access denied");
    admin = true;
    AppendStatus(&wbuf, "OK");
  }

  void CmdSelect(const Argv& a) {
    if (a.size() < 2 || a.size() > 4) return AppendError(&wbuf, "Invalid argument");
    if (!NsNameOk(a[1])) return;
    const std::string name(a[1]);
    Namespace* n = srv->store->Get(name);
    if (!n) return AppendError(&wbuf, "Namespace not found");
    bool w = true;
    const std::string& pw = n->props().password;
    if (!pw.empty()) {
      if (a.size() == 2) {
        if (!n->props().is_public) return AppendError(&wbuf, "Namespace protected and private");
        w = false;
      } else if (a.size() == 4) {
        if (Upper(a[2]) != "SECURE") return AppendError(&wbuf, "Invalid argument");
        if (nonce.empty()) {
          return AppendError(&wbuf, "No CHALLENGE requested, secure authentication not available");
        }
        bool ok = a[3] == SecureProof(nonce, pw);
        nonce.clear();
        if (!ok) return AppendError(&wbuf, "Access denied");
      } else {
        if (a[2].size() > 255) return AppendError(&wbuf, "Password too long");
        if (a[2] != pw) return AppendError(&wbuf, "Access denied");
      }
    }
    ns = name;
    writable = w;
    AppendStatus(&wbuf, "OK");
  }

  void CmdNsNew(const Argv& a) {
    if (!Admin() || !Args(a, 2) || !NsNameOk(a[1])) return;
    const std::string name(a[1]);
    if (!Store::ValidName(name)) return AppendError(&wbuf, "This name is not allowed");
    if (srv->store->Get(name)) return AppendError(&wbuf, "This namespace is not available");
    auto r = srv->store->Create(name);
    if (!r.ok()) {
      spdlog::error("zdb: NSNEW: {}", r.status().ToString());
      return AppendError(&wbuf, "Could not create namespace");
    }
    AppendStatus(&wbuf, "OK");
  }

  void CmdNsDel(const Argv& a) {
    if (!Admin() || !Args(a, 2) || !NsNameOk(a[1])) return;
    const std::string name(a[1]);
    if (name == "default") return AppendError(&wbuf, "Cannot remove default namespace");
    if (!srv->store->Get(name)) return AppendError(&wbuf, "This namespace doesn't exists");
    if (ns == name) return AppendError(&wbuf, "Cannot remove namespace you're currently using.");
    Status st = srv->store->Delete(name);
    if (!st.ok()) {
      spdlog::error("zdb: NSDEL: {}", st.ToString());
      return AppendError(&wbuf, "Could not delete this namespace");
    }
    AppendStatus(&wbuf, "OK");
  }

  void CmdNsList() {
    auto names = srv->store->List();
    AppendArrayHeader(&wbuf, names.size());
    for (const auto& n : names) AppendBulk(&wbuf, n);
  }

  void CmdNsSet(const Argv& a) {
    if (!Admin() || !Args(a, 4) || !NsNameOk(a[1])) return;
    if (a[3].size() > 63) return AppendError(&wbuf, "Invalid value");
    if (a[1] == "default") return AppendError(&wbuf, "Cannot update default namespace");
    Namespace* n = srv->store->Get(std::string(a[1]));
    if (!n) return AppendError(&wbuf, "Namespace not found");
    NsProps p = n->props();
    std::string_view prop = a[2];
    const std::string v(a[3]);
    if (prop == "maxsize") {
      p.maxsize = std::strtoull(v.c_str(), nullptr, 10);
    } else if (prop == "password") {
      p.password = v == "*" ? "" : v;
    } else if (prop == "public") {
      p.is_public = !v.empty() && v[0] == '1';
    } else if (prop == "worm") {
      p.worm = !v.empty() && v[0] == '1';
    } else if (prop == "lock") {
      p.lock = !v.empty() && v[0] == '1';
    } else if (prop == "mode") {
      if (v == "user" || v == "userkey") p.mode = KeyMode::kUser;
      else if (v == "seq" || v == "sequential") p.mode = KeyMode::kSeq;
      else return AppendError(&wbuf, "Invalid mode");
      if (p.mode != n->props().mode && n->entries() != 0) {
        return AppendError(&wbuf, "Cannot change mode, namespace is not empty");
      }
    } else {
      return AppendError(&wbuf, "Invalid property");
    }
    Status st = n->SetProps(p);
    if (!st.ok()) return AppendError(&wbuf, Bare(st));
    AppendStatus(&wbuf, "OK");
  }

  void CmdNsInfo(const Argv& a) {
    if (!Args(a, 2) || !NsNameOk(a[1])) return;
    Namespace* n = srv->store->Get(std::string(a[1]));
    if (!n) return AppendError(&wbuf, "Namespace not found");
    const NsProps& p = n->props();
    std::string s = "# namespace\n";
    s += "name: " + n->name() + "\n";
    s += "entries: " + std::to_string(n->entries()) + "\n";
    s += "public: " + std::string(p.is_public ? "yes" : "no") + "\n";
    s += "worm: " + std::string(p.worm ? "yes" : "no") + "\n";
    s += "locked: " + std::string(p.lock ? "yes" : "no") + "\n";
    s += "password: " + std::string(p.password.empty() ? "no" : "yes") + "\n";
    s += "data_size_bytes: " + std::to_string(n->live_bytes()) + "\n";
    s += "data_size_mb: " + Fmt2(double(n->live_bytes()) / (1024.0 * 1024.0)) + "\n";
    s += "data_limits_bytes: " + std::to_string(p.maxsize) + "\n";
    s += "index_size_bytes: " + std::to_string(n->index_bytes()) + "\n";
    s += "index_size_kb: " + Fmt2(double(n->index_bytes()) / 1024.0) + "\n";
    // As 0-db v2.0.7 prints it: "0x%08" PRIx64 of the byte-swapped id, i.e.
    // the bytes of the 8-byte little-endian key in order (0x00000000 when new).
    char next_id[32];
    std::snprintf(next_id, sizeof(next_id), "0x%08" PRIx64, __builtin_bswap64(n->next_id()));
    s += "next_internal_id: " + std::string(next_id) + "\n";
    s += "mode: " + std::string(p.mode == KeyMode::kSeq ? "sequential" : "userkey") + "\n";
    const NsStats& st = n->stats();
    s += "stats_index_io_errors: 0\n";
    // qstor's own fields, after the ones 0-db also prints.
    s += "data_disk_bytes: " + std::to_string(n->disk_bytes()) + "\n";
    s += "data_files: " + std::to_string(n->file_count()) + "\n";
    s += "stats_data_read: " + std::to_string(st.reads) + "\n";
    s += "stats_data_write: " + std::to_string(st.writes) + "\n";
    s += "stats_data_delete: " + std::to_string(st.deletes) + "\n";
    s += "stats_corrupt_entries: " + std::to_string(st.corrupt_entries) + "\n";
    s += "stats_truncated_bytes: " + std::to_string(st.truncated_bytes) + "\n";
    s += "stats_compacted_files: " + std::to_string(st.compacted_files) + "\n";
    if (p.maxsize > 0) {
      uint64_t avail = p.maxsize > n->live_bytes() ? p.maxsize - n->live_bytes() : 0;
      s += "space_available: " + std::to_string(avail) + "\n";
    }
    struct statvfs vfs;
    if (::statvfs(n->dir().c_str(), &vfs) == 0) {
      uint64_t fr = uint64_t(vfs.f_bsize) * vfs.f_bavail;
      s += "index_disk_freespace_bytes: " + std::to_string(fr) + "\n";
      s += "index_disk_freespace_mb: " + Fmt2(double(fr) / (1024.0 * 1024.0)) + "\n";
      s += "data_disk_freespace_bytes: " + std::to_string(fr) + "\n";
      s += "data_disk_freespace_mb: " + Fmt2(double(fr) / (1024.0 * 1024.0)) + "\n";
    }
    AppendBulk(&wbuf, s);
  }

  void CmdSet(Namespace* n, const Argv& a) {
    std::optional<uint32_t> ts;
    if (a.size() == 4) {
      if (!Admin()) return;
      ts = static_cast<uint32_t>(std::strtoull(std::string(a[3]).c_str(), nullptr, 10));
    } else if (!Args(a, 3)) {
      return;
    }
    if (!KeyOk(a[1])) return;
    if (!writable) return AppendError(&wbuf, "Namespace is in read-only mode");
    std::string key;
    bool unchanged = false;
    Status st = n->Set(a[1], a[2], &key, &unchanged, ts);
    if (!st.ok()) {
      if (st.code() == Status::Code::kIOError) {
        spdlog::error("zdb: SET: {}", st.ToString());
        return AppendError(&wbuf, "Cannot write data right now");
      }
      return AppendError(&wbuf, Bare(st));
    }
    if (unchanged) return AppendNil(&wbuf);
    dirty = true;
    AppendBulk(&wbuf, key);
  }

  void CmdGet(Namespace* n, const Argv& a) {
    if (!Args(a, 2) || !KeyOk(a[1])) return;
    Status st = AppendValue(n, a[1]);
    if (!st.ok()) {
      spdlog::error("zdb: GET: {}", st.ToString());
      AppendError(&wbuf, "Internal error: " + Bare(st));
    }
  }

  // Appends the bulk reply of key's value (nil when absent), read from the
  // data file straight into wbuf. On error wbuf is left as it was.
  Status AppendValue(Namespace* n, std::string_view key) {
    Loc loc = n->Find(key);
    if (!loc.valid()) {
      AppendNil(&wbuf);
      return Status::OK();
    }
    size_t mark = wbuf.size();
    char num[24];
    auto [end, ec] = std::to_chars(num, num + sizeof(num), loc.size);
    (void)ec;
    wbuf.push_back('$');
    wbuf.append(std::string_view(num, static_cast<size_t>(end - num)));
    wbuf.append("\r\n");
    char* dst = wbuf.Grow(loc.size + 2);  // uninitialized: the read fills it
    Status st = n->ReadValue(loc, key, dst);
    if (!st.ok()) {
      wbuf.Truncate(mark);
      return st;
    }
    dst[loc.size] = '\r';
    dst[loc.size + 1] = '\n';
    return Status::OK();
  }

  void CmdMget(Namespace* n, const Argv& a) {
    if (a.size() < 2) return AppendError(&wbuf, "Invalid argument");
    if (a.size() - 1 > kMaxMget) return AppendError(&wbuf, "Too many keys");
    for (size_t i = 1; i < a.size(); ++i) {
      if (!KeyOk(a[i])) return;
    }
    uint64_t total = 0;
    for (size_t i = 1; i < a.size(); ++i) total += n->Find(a[i]).size;
    if (total > kMaxMgetReply) return AppendError(&wbuf, "Reply too large");
    AppendArrayHeader(&wbuf, a.size() - 1);
    for (size_t i = 1; i < a.size(); ++i) {
      Status st = AppendValue(n, a[i]);
      if (!st.ok()) {
        spdlog::error("zdb: MGET: {}", st.ToString());
        AppendNil(&wbuf);  // a damaged entry reads as absent, as before
      }
    }
  }

  void CmdDel(Namespace* n, const Argv& a) {
    if (!Args(a, 2) || !KeyOk(a[1])) return;
    if (!writable) return AppendError(&wbuf, "Namespace is in read-only mode");
    Status st = n->Del(a[1]);
    if (!st.ok()) {
      if (st.code() == Status::Code::kIOError) {
        spdlog::error("zdb: DEL: {}", st.ToString());
        return AppendError(&wbuf, "Cannot write data right now");
      }
      return AppendError(&wbuf, Bare(st));
    }
    dirty = true;
    AppendStatus(&wbuf, "OK");
  }

  void CmdScan(Namespace* n, const Argv& a, bool reverse) {
    if (a.size() > 2) return AppendError(&wbuf, "Invalid argument");
    std::optional<std::string> cursor;
    if (a.size() == 2) cursor = std::string(a[1]);
    std::vector<ScanItem> items;
    std::string next;
    Status st = n->Scan(cursor, reverse, kScanPage, &items, &next);
    if (!st.ok()) return AppendError(&wbuf, Bare(st));
    AppendArrayHeader(&wbuf, 2);
    AppendBulk(&wbuf, next);
    AppendArrayHeader(&wbuf, items.size());
    for (const auto& it : items) {
      AppendArrayHeader(&wbuf, 3);
      AppendBulk(&wbuf, it.key);
      AppendInteger(&wbuf, it.size);
      AppendInteger(&wbuf, it.timestamp);
    }
  }
};

void Server::Impl::Accept() {
  acceptor.async_accept([this](const boost::system::error_code& ec, tcp::socket s) {
    if (stopping) return;
    if (!ec) {
      ++connections;
      boost::system::error_code pe;
      auto from = s.remote_endpoint(pe);
      auto refuse = [&s](const char* why) {
        boost::system::error_code ig;
        std::string msg = std::string("-") + why + "\r\n";
        asio::write(s, asio::buffer(msg), ig);
        // Shut the sending side first, so the reply is ahead of the FIN.
        s.shutdown(tcp::socket::shutdown_send, ig);
        s.close(ig);
      };
      // With an admin password the last slot is the admin's (see server.h).
      bool reserve = !opt.admin_password.empty() && opt.max_clients > 1;
      if (pe) {
        boost::system::error_code ig;
        s.close(ig);  // already gone
      } else if (sessions.size() >= opt.max_clients) {
        refuse("Too many clients");
      } else if (opt.max_clients_per_peer > 0 && per_peer.count(from.address()) &&
                 per_peer[from.address()] >= opt.max_clients_per_peer) {
        refuse("Too many clients from this address");
      } else {
        bool reserved = reserve && sessions.size() + 1 >= opt.max_clients;
        auto sess = std::make_shared<Session>(this, std::move(s), from.address(), reserved);
        sessions.insert(sess);
        sess->Start();
      }
    }
    Accept();
  });
}

void Server::Impl::GroupSync() {
  sync_posted = false;
  // While a round runs, writers queue up; its completion starts the next
  // round for all of them (group commit).
  if (sync_running || sync_waiters.empty()) return;
  auto waiters = std::move(sync_waiters);
  sync_waiters.clear();
  StartSync(std::move(waiters));
}

// One fdatasync round over the files written so far, on the sync thread;
// `waiters` get their replies (or an error and a close) when it is done.
void Server::Impl::StartSync(std::vector<std::shared_ptr<Session>> waiters) {
  std::vector<int> fds;
  Status taken = store->TakeDirtyAll(&fds);
  sync_running = true;
  asio::post(syncer, [this, fds = std::move(fds), taken,
                      waiters = std::move(waiters)]() mutable {
    Status st = Store::SyncAndClose(fds);
    if (st.ok()) st = taken;
    asio::post(io, [this, st, waiters = std::move(waiters)] {
      sync_running = false;
      if (stopping) return;
      if (!st.ok()) spdlog::error("zdb: sync failed: {}", st.ToString());
      for (auto& w : waiters) {
        if (!st.ok()) {
          // The replies would claim durability we do not have.
          w->wbuf.clear();
          AppendError(&w->wbuf, "Cannot write data right now");
          w->closing = true;
        }
        w->Finish();
      }
      GroupSync();
    });
  });
}

void Server::Impl::ScheduleSync() {
  if (opt.sync_interval.count() == 0) return;
  sync_timer.expires_after(opt.sync_interval);
  sync_timer.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping) return;
    if (!sync_running) StartSync({});  // else the running round is this tick's
    ScheduleSync();
  });
}

void Server::Impl::ScheduleCompact() {
  if (opt.compact_ratio <= 0) return;
  compact_timer.expires_after(std::chrono::milliseconds(100));
  compact_timer.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping) return;
    for (const auto& name : store->List()) {
      Namespace* n = store->Get(name);
      if (!n) continue;
      auto r = n->CompactStep(opt.compact_ratio, 1u << 20);
      if (!r.ok()) {
        spdlog::error("zdb: compaction of '{}': {}", name, r.status().ToString());
      } else if (*r) {
        break;  // one bounded step per tick keeps request latency low
      }
    }
    ScheduleCompact();
  });
}

void Server::Impl::Shutdown() {
  if (stopping) return;
  stopping = true;
  boost::system::error_code ec;
  acceptor.close(ec);
  sync_timer.cancel();
  compact_timer.cancel();
  signals.cancel(ec);
  auto copy = sessions;
  for (auto& s : copy) s->Close();
  sessions.clear();
  syncer.join();  // a round in flight finishes before the files close
  final_status = store->Close();
  io.stop();
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  if (impl_ && impl_->store) {
    Status st = impl_->store->Close();
    if (!st.ok()) spdlog::warn("zdb server: close: {}", st.ToString());
  }
}

Result<std::unique_ptr<Server>> Server::Create(ServerOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->opt = std::move(options);
  StoreOptions so;
  so.rotate_bytes = impl->opt.rotate_bytes;
  auto store = Store::Open(impl->opt.data_dir, so);
  if (!store.ok()) return store.status();
  impl->store = std::move(store.value());
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(impl->opt.listen, ec);
  if (ec) return Status::InvalidArgument("zdb serve: bad listen address '" + impl->opt.listen + "'");
  tcp::endpoint ep(addr, impl->opt.port);
  impl->acceptor.open(ep.protocol(), ec);
  if (!ec) impl->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(ep, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::Unavailable("zdb serve: cannot listen on " + impl->opt.listen + ":" +
                               std::to_string(impl->opt.port) + ": " + ec.message());
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

uint16_t Server::port() const { return impl_->acceptor.local_endpoint().port(); }

Status Server::Run() {
  Impl* s = impl_.get();
  if (s->opt.handle_signals) {
    s->signals.add(SIGTERM);
    s->signals.add(SIGINT);
    s->signals.async_wait([s](const boost::system::error_code& ec, int sig) {
      if (ec) return;
      spdlog::info("zdb: signal {}, shutting down", sig);
      s->Shutdown();
    });
  }
  s->Accept();
  s->ScheduleSync();
  s->ScheduleCompact();
  s->io.run();
  if (!s->stopping) s->Shutdown();
  return s->final_status;
}

void Server::Stop() {
  asio::post(impl_->io, [s = impl_.get()] { s->Shutdown(); });
}

}  // namespace qstor::zdb
