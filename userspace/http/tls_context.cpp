#include "http/tls_context.h"

#include <openssl/err.h>

#include <cstring>
#include <vector>

namespace dwcp::http {
namespace {

// Go's TLS 1.2 default since 1.22, and exporter-toolkit's: ECDHE key exchange (forward secrecy)
// and an AEAD cipher; no static RSA, no CBC.
constexpr const char* kDefaultSuites =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kDefaultCurves = "X25519:P-256:P-384:P-521";  // Go's default order

std::string openssl_error() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  return text;
}

bool is_tls13_suite(const std::string& name) {
  return name == "TLS_AES_128_GCM_SHA256" || name == "TLS_AES_256_GCM_SHA384" || name == "TLS_CHACHA20_POLY1305_SHA256";
}

// Go's suite name (the IANA one; Go also has ..._CHACHA20_POLY1305 without _SHA256) to OpenSSL's.
std::string openssl_suite(const std::string& go_name) {
  std::string iana = go_name;
  if (iana.size() > 17 && iana.compare(iana.size() - 17, 17, "CHACHA20_POLY1305") == 0) iana += "_SHA256";
  SSL_CTX* all = SSL_CTX_new(TLS_server_method());
  if (all == nullptr) return "";
  SSL_CTX_set_cipher_list(all, "ALL:COMPLEMENTOFALL:@SECLEVEL=0");
  std::string found;
  STACK_OF(SSL_CIPHER)* ciphers = SSL_CTX_get_ciphers(all);
  for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i) {
    const SSL_CIPHER* cipher = sk_SSL_CIPHER_value(ciphers, i);
    const char* standard = SSL_CIPHER_standard_name(cipher);
    if (standard != nullptr && iana == standard) found = SSL_CIPHER_get_name(cipher);
  }
  SSL_CTX_free(all);
  return found;
}

std::string openssl_curve(const std::string& go_name) {
  if (go_name == "X25519") return "X25519";
  if (go_name == "CurveP256") return "P-256";
  if (go_name == "CurveP384") return "P-384";
  if (go_name == "CurveP521") return "P-521";
  return "";
}

int version_number(const std::string& name) {
  if (name == "TLS12") return TLS1_2_VERSION;
  if (name == "TLS13") return TLS1_3_VERSION;
  return 0;
}

// Settings without files: suites, curves, versions, client-auth mode; shared by the check and the build.
Result<void> apply_names(SSL_CTX* ctx, const TlsOptions& tls) {
  const int min = version_number(tls.min_version.empty() ? "TLS12" : tls.min_version);
  const int max = tls.max_version.empty() ? TLS1_3_VERSION : version_number(tls.max_version);
  if (min == 0 || max == 0) {
    return Error{"min_version/max_version must be TLS12 or TLS13 (TLS 1.0 and 1.1 are not offered)"};
  }
  if (min > max) {
    return Error{"min_version is above max_version"};
  }
  SSL_CTX_set_min_proto_version(ctx, min);
  SSL_CTX_set_max_proto_version(ctx, max);
  std::string suites;
  for (const std::string& name : tls.cipher_suites) {
    if (is_tls13_suite(name)) continue;  // always on in TLS 1.3, as in Go
    const std::string openssl = openssl_suite(name);
    if (openssl.empty()) {
      return Error{"cipher_suites: " + name +
                   " is not a TLS 1.2 suite this OpenSSL has (use Go's names, e.g. "
                   "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)"};
    }
    suites += (suites.empty() ? "" : ":") + openssl;
  }
  if (tls.cipher_suites.empty()) suites = kDefaultSuites;
  // A list of TLS 1.3 suites only leaves TLS 1.2 without any: then it cannot be negotiated.
  if (suites.empty()) suites = "!ALL";
  if (SSL_CTX_set_cipher_list(ctx, suites.c_str()) != 1 && min < TLS1_3_VERSION) {
    return Error{"cipher_suites: OpenSSL refuses " + suites + ": " + openssl_error()};
  }
  ERR_clear_error();
  std::string curves;
  for (const std::string& name : tls.curve_preferences) {
    const std::string openssl = openssl_curve(name);
    if (openssl.empty()) {
      return Error{"curve_preferences: " + name + " is not one of X25519, CurveP256, CurveP384, CurveP521"};
    }
    curves += (curves.empty() ? "" : ":") + openssl;
  }
  if (SSL_CTX_set1_groups_list(ctx, curves.empty() ? kDefaultCurves : curves.c_str()) != 1) {
    return Error{"curve_preferences: " + openssl_error()};
  }
  if (tls.prefer_server_cipher_suites) SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
  // No renegotiation (a client-driven CPU cost) and no compression (CRIME).
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  const std::string& mode = tls.client_auth_type;
  // Request/RequireAny take any certificate (Go's semantics): the callback accepts every chain.
  auto accept_any = [](int, X509_STORE_CTX*) { return 1; };
  if (mode == "NoClientCert" || mode.empty())
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  else if (mode == "RequestClientCert")
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any);
  else if (mode == "RequireAnyClientCert")
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, accept_any);
  else if (mode == "VerifyClientCertIfGiven")
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  else if (mode == "RequireAndVerifyClientCert")
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  else {
    return Error{"client_auth_type " + mode +
                 " is not one of NoClientCert, RequestClientCert, RequireAnyClientCert, "
                 "VerifyClientCertIfGiven, RequireAndVerifyClientCert"};
  }
  // ALPN: HTTP/1.1 only (no HTTP/2); a client offering only h2 gets no ALPN and speaks 1.1.
  SSL_CTX_set_alpn_select_cb(
      ctx,
      [](SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned inlen, void*) {
        static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
        unsigned char* selected = nullptr;
        if (SSL_select_next_proto(&selected, outlen, kHttp11, sizeof(kHttp11), in, inlen) != OPENSSL_NPN_NEGOTIATED)
          return SSL_TLSEXT_ERR_NOACK;
        *out = selected;
        return SSL_TLSEXT_ERR_OK;
      },
      nullptr);
  return {};
}

}  // namespace

Result<void> check_tls_options(const TlsOptions& tls) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return Error{openssl_error()};
  Result<void> usable = apply_names(ctx, tls);
  SSL_CTX_free(ctx);
  return usable;
}

Result<SSL_CTX*> make_tls_context(const TlsOptions& tls) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return Error{openssl_error()};
  auto fail = [&](const std::string& what) {
    Error error = Error{what + ": " + openssl_error()};
    SSL_CTX_free(ctx);
    return error;
  };
  if (Result<void> usable = apply_names(ctx, tls); !usable) {
    SSL_CTX_free(ctx);
    return usable.failure();
  }
  if (SSL_CTX_use_certificate_chain_file(ctx, tls.cert_file.c_str()) != 1) return fail("cert_file " + tls.cert_file);
  if (SSL_CTX_use_PrivateKey_file(ctx, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
    return fail("key_file " + tls.key_file);
  if (SSL_CTX_check_private_key(ctx) != 1) return fail("key_file does not match cert_file");
  if (!tls.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, tls.client_ca_file.c_str(), nullptr) != 1)
      return fail("client_ca_file " + tls.client_ca_file);
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(tls.client_ca_file.c_str());
    if (names != nullptr) SSL_CTX_set_client_CA_list(ctx, names);
  }
  static const unsigned char kSession[] = "dwcp-observer";
  SSL_CTX_set_session_id_context(ctx, kSession, sizeof(kSession) - 1);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  return ctx;
}

TlsContext::~TlsContext() {
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
}

TlsContext::Stamps TlsContext::stamps() const {
  Stamps out{};
  const std::string* files[] = {&tls_.cert_file, &tls_.key_file, &tls_.client_ca_file};
  for (std::size_t i = 0; i < out.size(); ++i) {
    struct stat st {};
    if (files[i]->empty() || ::stat(files[i]->c_str(), &st) != 0) continue;
    out[i] = {st.st_dev, st.st_ino, st.st_size, st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec};
  }
  return out;
}

Result<void> TlsContext::load() {
  const Stamps now = stamps();
  Result<SSL_CTX*> made = make_tls_context(tls_);
  if (!made) return made.failure();
  ctx_ = *made;
  built_ = now;
  return {};
}

SSL_CTX* TlsContext::current(bool force) {
  const Stamps now = stamps();
  if (!force && (now == built_ || now == failed_)) return ctx_;
  Result<SSL_CTX*> fresh = make_tls_context(tls_);
  if (!fresh) {
    // A renewal half-written (certificate and key not yet matching) fails here and is tried
    // again when the files change once more; until then the old certificate is served.
    if (!(now == failed_) || force)
      log_.warn("TLS files changed but cannot be loaded, still serving the previous certificate: " + fresh.error());
    failed_ = now;
    return ctx_;
  }
  SSL_CTX_free(ctx_);  // connections made from it hold their own reference
  ctx_ = *fresh;
  built_ = now;
  failed_ = {};
  return ctx_;
}

}  // namespace dwcp::http
