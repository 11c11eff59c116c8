import AttrGuardTools
import AttrGuardTraining
import Foundation
import Testing

@Suite struct PeakMemoryTests {
    /// /proc/PID/status pads VmHWM with spaces only while the number is short: 8 digits leave a bare tab.
    @Test func readsVmHWMAtAnyWidth() {
        let long = "Name:\tattrguard\nVmPeak:\t13211444 kB\nVmHWM:\t12810432 kB\nVmRSS:\t  901232 kB\n"
        let short = "VmHWM:\t  184320 kB\n"
        #expect(peakResidentMiB(status: long) == 12810432.0 / 1024)
        #expect(peakResidentMiB(status: short) == 180)
        #expect(peakResidentMiB(status: "Name:\tx\n").isNaN)
        #expect(peakResidentMiB() > 1)   // this process, read from /proc
    }
}
