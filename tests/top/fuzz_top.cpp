// libFuzzer target for what `top` reads from the network: the HTTP response and the exposition
// text, then the view and screen built from it. Built and run by fuzz.sh (clang++, ASan+UBSan).
#include <cstddef>
#include <cstdint>
#include <string>

#include "top/exposition.h"
#include "top/http_client.h"
#include "top/render.h"
#include "top/view.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  auto body = dwcp::top::parse_response(input, "fuzz");
  // Whether or not it is a valid response, the bytes are also tried as an exposition.
  for (const std::string* text : {&input, body.ok() ? &*body : nullptr}) {
    if (!text) continue;
    auto samples = dwcp::top::parse_exposition(*text);
    if (!samples.ok()) continue;
    dwcp::top::Scrape before{0, *samples}, now{1, *samples};
    dwcp::top::View view = dwcp::top::build_view(&before, now, "", dwcp::top::SortKey::kShare);
    dwcp::top::RenderOptions options;
    dwcp::top::render(view, options, dwcp::top::Sparklines{});
  }
  return 0;
}
