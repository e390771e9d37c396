// ByteView: a bounds-checked window on untrusted bytes (an ELF file we did not write).
// Every read says whether it fit; nothing here can read past the end, whatever the offsets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace dwcp::goelf {

class ByteView {
 public:
  ByteView() = default;
  ByteView(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // True when [offset, offset+length) lies inside the view (overflow-safe).
  bool contains(uint64_t offset, uint64_t length) const { return offset <= size_ && length <= size_ - offset; }

  // The sub-window [offset, offset+length), or nothing when it does not fit.
  std::optional<ByteView> sub(uint64_t offset, uint64_t length) const {
    if (!contains(offset, length)) return std::nullopt;
    return ByteView(data_ + offset, static_cast<size_t>(length));
  }
  // Everything from offset to the end, or nothing when offset is past the end.
  std::optional<ByteView> from(uint64_t offset) const {
    if (offset > size_) return std::nullopt;
    return ByteView(data_ + offset, size_ - static_cast<size_t>(offset));
  }

  // Little-endian reads (x86-64 only).
  std::optional<uint8_t> u8(uint64_t offset) const { return read<uint8_t>(offset); }
  std::optional<uint16_t> u16(uint64_t offset) const { return read<uint16_t>(offset); }
  std::optional<uint32_t> u32(uint64_t offset) const { return read<uint32_t>(offset); }
  std::optional<uint64_t> u64(uint64_t offset) const { return read<uint64_t>(offset); }

  // A NUL-terminated string starting at offset, at most max_length bytes long; nothing when
  // the offset is out of range or no NUL comes within the limit.
  std::optional<std::string_view> c_string(uint64_t offset, size_t max_length) const {
    if (offset >= size_) return std::nullopt;
    const size_t available = size_ - static_cast<size_t>(offset);
    const size_t limit = available < max_length + 1 ? available : max_length + 1;
    const void* nul = std::memchr(data_ + offset, 0, limit);
    if (nul == nullptr) return std::nullopt;
    return std::string_view(reinterpret_cast<const char*>(data_ + offset),
                            static_cast<const uint8_t*>(nul) - (data_ + offset));
  }

  std::string_view as_string_view() const { return std::string_view(reinterpret_cast<const char*>(data_), size_); }

 private:
  template <class T>
  std::optional<T> read(uint64_t offset) const {
    if (!contains(offset, sizeof(T))) return std::nullopt;
    T value;
    std::memcpy(&value, data_ + offset, sizeof(T));  // unaligned-safe; host is little-endian x86-64
    return value;
  }

  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace dwcp::goelf
