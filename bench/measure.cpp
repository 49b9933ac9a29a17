// One measured sample (measure.hpp): the parts that are not templates.
#include "measure.hpp"

#include <fstream>
#include <sstream>

namespace kview::bench {

std::vector<pid_t> targets(const Ctx& c, int n) {
    std::vector<pid_t> t;
    for (int i = 0; i < n && i < static_cast<int>(c.drivers.size()); i++)
        t.push_back(c.drivers[static_cast<size_t>(i)]->pid());
    return t;
}

uint64_t tlb_ipis() {
    std::ifstream in("/proc/interrupts");
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream ss(line);
        std::string name;
        ss >> name;
        if (name != "TLB:")
            continue;
        uint64_t n = 0, x = 0;
        while (ss >> x)
            n += x;
        return n;
    }
    return 0;
}

} // namespace kview::bench
