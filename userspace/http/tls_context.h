// The server's OpenSSL context, made from exporter-toolkit's tls_server_config, and rebuilt when
// the certificate, key or client CA file changes on disk (checked at every new connection: a
// renewed certificate is served from the next handshake on, with no restart), or when asked
// (SIGHUP). A rebuild that fails keeps the old context and says why once.
#pragma once

#include <openssl/ssl.h>
#include <sys/stat.h>

#include <array>
#include <functional>
#include <memory>
#include <string>

#include "dwcp_observer/http_server.h"

namespace dwcp::http {

// Checks the names of `tls` against this OpenSSL (suites, curves, versions, client auth): ok when
// usable, else what is wrong. Reads no file.
Result<void> check_tls_options(const TlsOptions& tls);

// The SSL_CTX for `tls` (the caller frees it), or why not (a file, a name, a key mismatch).
Result<SSL_CTX*> make_tls_context(const TlsOptions& tls);

class TlsContext {
 public:
  TlsContext(TlsOptions tls, log::Logger log) : tls_(std::move(tls)), log_(std::move(log)) {}
  ~TlsContext();
  Result<void> load();  // the first build: any error is the caller's
  // Rebuilds when a file changed since the last build (or `force`); then the current context.
  SSL_CTX* current(bool force = false);

 private:
  struct Stamp {
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = 0;
    long long mtime_ns = 0;
    bool operator==(const Stamp& o) const {
      return dev == o.dev && ino == o.ino && size == o.size && mtime_ns == o.mtime_ns;
    }
  };
  using Stamps = std::array<Stamp, 3>;  // cert, key, client CA
  Stamps stamps() const;

  TlsOptions tls_;
  log::Logger log_;
  SSL_CTX* ctx_ = nullptr;
  Stamps built_{};   // the files the current context was made from
  Stamps failed_{};  // the files a rebuild last failed on (said once)
};

}  // namespace dwcp::http
