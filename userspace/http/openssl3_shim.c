/* civetweb 1.15 as Debian builds it loads OpenSSL at run time with dlopen("libssl.so") and
 * dlsym()s each function it uses. One of them, SSL_get_peer_certificate, is only a macro in
 * OpenSSL 3 (for SSL_get1_peer_certificate): civetweb gets NULL and every TLS connection crashes
 * its worker at address 0 (the crash that makes prometheus-cpp's TLS unusable on Debian 12).
 *
 * This library is the "libssl.so" civetweb finds first (the agent's DT_RPATH points at its
 * directory): it depends on the real libssl.so.3, so dlsym() finds everything there, and adds the
 * one missing symbol. It also means the agent needs no libssl-dev at run time. Both functions
 * return a new reference; civetweb frees it with X509_free. */
typedef struct ssl_st SSL;
typedef struct x509_st X509;

X509* SSL_get1_peer_certificate(const SSL* ssl);

X509* SSL_get_peer_certificate(const SSL* ssl) { return SSL_get1_peer_certificate(ssl); }
