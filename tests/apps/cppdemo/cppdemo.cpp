// A C++ app: static objects constructed at load (before cppdemo_init), destroyed at unload (after
// cppdemo_deinit); a class template; a virtual call through a vtable (absolute words in the data
// segment: fix-ups in an IRAM blob). Exports are extern "C": the wrappers and the manifest are C.
#include <stdint.h>
#include <stdio.h>

namespace {

int constructed;  // how many static constructors ran, in order

template <typename T, unsigned N>
class Ring {
public:
    void push(T value)
    {
        items_[head_ % N] = value;
        head_++;
    }
    T sum() const
    {
        T total = 0;
        for (unsigned i = 0; i < N && i < head_; i++) {
            total += items_[i];
        }
        return total;
    }

private:
    T items_[N] = {};
    unsigned head_ = 0;
};

class Tracer {
public:
    explicit Tracer(const char *name) : name_(name), order_(++constructed)
    {
        printf("CTOR %s %d\n", name_, order_);
    }
    ~Tracer() { printf("DTOR %s %d\n", name_, order_); }
    int order() const { return order_; }

private:
    const char *name_;
    int order_;
};

class Scale {  // no virtual destructor: a deleting one would need operator delete, the firmware's free
public:
    virtual int32_t apply(int32_t value) const = 0;

protected:
    ~Scale() = default;
};

class Times : public Scale {
public:
    explicit Times(int32_t factor) : factor_(factor) {}
    int32_t apply(int32_t value) const override { return value * factor_; }

private:
    int32_t factor_;
};

// Storage from the heap: operator new[]/delete[] on the firmware's malloc/free.
template <typename T>
class HeapArray {
public:
    explicit HeapArray(unsigned count) : items_(new T[count]), count_(items_ != nullptr ? count : 0) {}
    ~HeapArray() { delete[] items_; }
    HeapArray(const HeapArray &) = delete;
    HeapArray &operator=(const HeapArray &) = delete;
    unsigned size() const { return count_; }
    T &operator[](unsigned i) { return items_[i]; }

private:
    T *items_;
    unsigned count_;
};

Tracer first("first");
Ring<int32_t, 4> ring;
Tracer second("second");
Times triple(3);
const Scale *scale = &triple;

}  // namespace

// A function-local static: constructed at its first use, destroyed at unload before the globals
// (registered with __cxa_atexit after them).
static const Tracer &late()
{
    static Tracer tracer("late");
    return tracer;
}

__attribute__((destructor)) static void last_words(void) { printf("FINI cppdemo\n"); }

extern "C" int cppdemo_init(void)
{
    printf("INIT cppdemo constructed=%d\n", constructed);
    return constructed == 2 && first.order() == 1 && second.order() == 2 ? 0 : 1;
}

extern "C" void cppdemo_deinit(void) { printf("DEINIT cppdemo\n"); }

extern "C" int32_t cppdemo_push(int32_t value)
{
    ring.push(value);
    return ring.sum();
}

extern "C" int32_t cppdemo_sum(void) { return ring.sum(); }

extern "C" int32_t cppdemo_scaled(int32_t value) { return scale->apply(value); }

extern "C" int32_t cppdemo_constructed(void) { return constructed; }

extern "C" int32_t cppdemo_late(void) { return late().order(); }

// Everything on the heap: the array object (operator new) and its storage (operator new[]).
extern "C" int32_t cppdemo_heap_sum(uint32_t count)
{
    HeapArray<int32_t> *array = new HeapArray<int32_t>(count);
    if (array == nullptr) {
        return -1;
    }
    int32_t total = 0;
    for (unsigned i = 0; i < array->size(); i++) {
        (*array)[i] = (int32_t)i + 1;
    }
    for (unsigned i = 0; i < array->size(); i++) {
        total += (*array)[i];
    }
    delete array;
    return total;
}
