// The TLS context's rebuild when its files change (http/tls_context.h): a renewal that cannot be
// loaded keeps the previous certificate and says so once, as a warning, through the Logger the
// server was given (the agent's log, or a host program's own sink).
#include "http/tls_context.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace dwcp::http {
namespace {

// A self-signed P-256 certificate and its key, as PEM files in a fresh directory.
struct CertFiles {
  std::string dir, cert, key;
  CertFiles() {
    char pattern[] = "/tmp/dwcp-tls-XXXXXX";
    dir = mkdtemp(pattern);
    cert = dir + "/server.crt";
    key = dir + "/server.key";
    EVP_PKEY* pkey = EVP_EC_gen("P-256");
    X509* x509 = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(x509), 1);
    X509_gmtime_adj(X509_getm_notBefore(x509), 0);
    X509_gmtime_adj(X509_getm_notAfter(x509), 3600);
    X509_set_pubkey(x509, pkey);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x509), "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
    X509_set_issuer_name(x509, X509_get_subject_name(x509));
    X509_sign(x509, pkey, EVP_sha256());
    FILE* out = std::fopen(cert.c_str(), "w");
    PEM_write_X509(out, x509);
    std::fclose(out);
    out = std::fopen(key.c_str(), "w");
    PEM_write_PrivateKey(out, pkey, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(out);
    X509_free(x509);
    EVP_PKEY_free(pkey);
  }
  ~CertFiles() {
    unlink(cert.c_str());
    unlink(key.c_str());
    rmdir(dir.c_str());
  }
};

TEST(TlsContext, AFailedRenewalKeepsTheCertificateAndWarnsOnceThroughTheLogger) {
  CertFiles files;
  TlsOptions tls;
  tls.cert_file = files.cert;
  tls.key_file = files.key;
  std::vector<std::pair<log::Level, std::string>> lines;
  TlsContext context(tls, log::Logger([&](log::Level level, const std::string& m) { lines.emplace_back(level, m); }));
  const Result<void> loaded = context.load();
  ASSERT_TRUE(loaded) << loaded.error();
  SSL_CTX* first = context.current();
  ASSERT_NE(first, nullptr);
  EXPECT_TRUE(lines.empty());

  std::ofstream(files.key) << "not a key, a renewal half written\n";  // another size: the files changed
  EXPECT_EQ(context.current(), first);                                // still the previous certificate
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].first, log::Level::kWarn);
  EXPECT_NE(lines[0].second.find("still serving the previous certificate"), std::string::npos) << lines[0].second;
  EXPECT_EQ(context.current(), first);
  EXPECT_EQ(lines.size(), 1u);  // the same files: said once
}

}  // namespace
}  // namespace dwcp::http
