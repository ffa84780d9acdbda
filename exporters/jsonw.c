/* JSON writing without malloc or stdio; see jsonw.h. */
#include "jsonw.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../agent/ta.h"

void ta_buf_init(struct ta_buf *b, char *mem, size_t cap, int fd)
{
    b->p = mem;
    b->len = 0;
    b->cap = cap;
    b->fd = fd;
    b->failed = 0;
    b->written = 0;
    b->limit = 0;
    b->reserve = 0;
    b->full = 0;
    b->whole = 0;
    b->suffix = NULL;
}

/* RLIMIT_FSIZE now; 0 when there is none */
static uint64_t fsize_limit(void)
{
    struct rlimit rl;
    if (syscall(SYS_prlimit64, 0, RLIMIT_FSIZE, NULL, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return 0;
    return rl.rlim_cur ? (uint64_t)rl.rlim_cur : 1; /* 0: not one byte may be written */
}

void ta_buf_file(struct ta_buf *b, const char *suffix, size_t reserve, int whole)
{
    b->suffix = suffix;
    b->reserve = reserve;
    b->whole = whole; /* the limit is read before each write (flush) */
}

/* One warning per process for a file that stops short (the first; the others at info). */
static int warned;

static void stopped(struct ta_buf *b, int err)
{
    char path[sizeof ta_proc.stem + 32];
    ta_fmt(path, sizeof path, "%s%s", ta_proc.stem, b->suffix ? b->suffix : "");
    int lvl = warned++ ? TA_LOG_INFO : TA_LOG_WARN;
    if (b->whole || !b->written) {
        /* a JSON document cut short is of no use to anyone, nor is an empty file: none
         * rather than half */
        syscall(SYS_ftruncate, b->fd, 0);
        syscall(SYS_unlinkat, AT_FDCWD, path, 0);
        b->written = 0;
        b->failed = 1;
    }
    const char *end = !b->written ? "not written" : "it ends at its last whole line";
    if (err == EFBIG)
        ta_log(lvl, "%s: the file size limit (ulimit -f, %llu bytes) is reached: %s; the "
               "program runs on", path, (unsigned long long)b->limit, end);
    else
        ta_log(lvl, "%s: write failed (errno %d%s): %s; nothing more is written to it", path,
               err, err == ENOSPC || err == EDQUOT ? ", the disk is full" : "", end);
}

/* Up to n bytes from p (n within the limit); what was written. */
static size_t write_some(int fd, const char *p, size_t n, int *err)
{
    size_t done = 0;
    while (done < n) {
        long r = syscall(SYS_write, fd, p + done, n - done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            *err = r < 0 ? errno : ENOSPC;
            break;
        }
        done += (size_t)r;
    }
    return done;
}

/* The length of the whole lines in p[0, n) */
static size_t whole_lines(const char *p, size_t n)
{
    while (n && p[n - 1] != '\n')
        n--;
    return n;
}

static void flush(struct ta_buf *b, int final)
{
    size_t n = b->len;
    b->len = 0;
    if (!n || b->fd < 0 || b->failed || (b->full && !final))
        return;
    int err = 0;
    /* read at each write: the program may lower it (setrlimit, prlimit), and a write from
     * its own thread (the exit, a fatal signal) that starts past it kills it with SIGXFSZ;
     * one system call beside each write(2) of up to half a MiB */
    if (b->suffix)
        b->limit = fsize_limit();
    if (b->limit) {
        /* never the write that passes the limit: it would kill the program (SIGXFSZ) */
        uint64_t room = b->limit > b->written ? b->limit - b->written : 0;
        if (!final)
            room = room > b->reserve ? room - b->reserve : 0;
        if (n > room) {
            n = b->whole ? 0 : whole_lines(b->p, (size_t)room);
            err = EFBIG;
        }
    }
    size_t done = write_some(b->fd, b->p, n, &err);
    if (done < n) {
        /* a short write (disk full): back to the last whole line */
        size_t keep = whole_lines(b->p, done);
        if (keep < done) {
            /* and the offset with it: a later write (the close, within the reserve, after
             * the size limit) must not leave a gap of zero bytes */
            syscall(SYS_ftruncate, b->fd, (long)(b->written + keep));
            syscall(SYS_lseek, b->fd, (long)(b->written + keep), SEEK_SET);
        }
        done = keep;
    }
    b->written += done;
    if (!err)
        return;
    if (err == EFBIG && !b->whole && !final) {
        b->full = 1; /* the final flush may still close the file within the reserve */
    } else {
        b->failed = 1;
    }
    stopped(b, err);
}

void ta_buf_flush(struct ta_buf *b) { flush(b, 0); }
void ta_buf_flush_final(struct ta_buf *b) { flush(b, 1); }

void ta_buf_line_end(struct ta_buf *b)
{
    if (b->len > b->cap / 2)
        ta_buf_flush(b);
}

void ta_buf_cstr(struct ta_buf *b, const char *s) { ta_buf_put(b, s, strlen(s)); }

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 if invalid. */
static size_t utf8_valid(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t need;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        need = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((need == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (need == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return need;
}

/* Bytes that go out as they are: printable ASCII but the quote and the backslash. */
static const uint8_t plain[256] = {
    [0x20 ... 0x21] = 1, /* 0x22 is the quote */
    [0x23 ... 0x5b] = 1, /* 0x5c is the backslash */
    [0x5d ... 0x7e] = 1,
};

void ta_buf_jstrn(struct ta_buf *b, const char *str, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    int cut = 0;
    if (n > TA_JSON_MAX_STR) {
        n = TA_JSON_MAX_STR;
        cut = 1;
    }
    ta_buf_char(b, '"');
    size_t i = 0;
    while (i < n) {
        /* the common case, a path or a name in plain ASCII: one copy per run */
        size_t j = i;
        while (j < n && plain[s[j]])
            j++;
        if (j > i) {
            ta_buf_put(b, (const char *)s + i, j - i);
            i = j;
            if (i == n)
                break;
        }
        unsigned c = s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            ta_buf_put(b, e, 2);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            switch (c) {
            case '\n': ta_buf_put(b, "\\n", 2); break;
            case '\t': ta_buf_put(b, "\\t", 2); break;
            case '\r': ta_buf_put(b, "\\r", 2); break;
            default: ta_buf_put(b, e, 6);
            }
            i++;
        } else {
            size_t k = utf8_valid(s + i, n - i);
            if (k) {
                ta_buf_put(b, (const char *)s + i, k);
                i += k;
            } else {
                ta_buf_put(b, "\\ufffd", 6);
                i++;
            }
        }
    }
    if (cut)
        ta_buf_put(b, "...", 3);
    ta_buf_char(b, '"');
}

void ta_buf_jstr(struct ta_buf *b, const char *s)
{
    if (!s) {
        ta_buf_put(b, "null", 4);
        return;
    }
    ta_buf_jstrn(b, s, strlen(s));
}

const char ta_digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930"
    "31323334353637383940414243444546474849505152535455565758596061"
    "62636465666768697071727374757677787980818283848586878889909192"
    "93949596979899";

/* "000." .. "999.": three digits and the point after them (jsonw.h) */
const char ta_digit_triples[4001] =
    "000.001.002.003.004.005.006.007.008.009.010.011.012.013.014.015.016.017.018.019."
    "020.021.022.023.024.025.026.027.028.029.030.031.032.033.034.035.036.037.038.039."
    "040.041.042.043.044.045.046.047.048.049.050.051.052.053.054.055.056.057.058.059."
    "060.061.062.063.064.065.066.067.068.069.070.071.072.073.074.075.076.077.078.079."
    "080.081.082.083.084.085.086.087.088.089.090.091.092.093.094.095.096.097.098.099."
    "100.101.102.103.104.105.106.107.108.109.110.111.112.113.114.115.116.117.118.119."
    "120.121.122.123.124.125.126.127.128.129.130.131.132.133.134.135.136.137.138.139."
    "140.141.142.143.144.145.146.147.148.149.150.151.152.153.154.155.156.157.158.159."
    "160.161.162.163.164.165.166.167.168.169.170.171.172.173.174.175.176.177.178.179."
    "180.181.182.183.184.185.186.187.188.189.190.191.192.193.194.195.196.197.198.199."
    "200.201.202.203.204.205.206.207.208.209.210.211.212.213.214.215.216.217.218.219."
    "220.221.222.223.224.225.226.227.228.229.230.231.232.233.234.235.236.237.238.239."
    "240.241.242.243.244.245.246.247.248.249.250.251.252.253.254.255.256.257.258.259."
    "260.261.262.263.264.265.266.267.268.269.270.271.272.273.274.275.276.277.278.279."
    "280.281.282.283.284.285.286.287.288.289.290.291.292.293.294.295.296.297.298.299."
    "300.301.302.303.304.305.306.307.308.309.310.311.312.313.314.315.316.317.318.319."
    "320.321.322.323.324.325.326.327.328.329.330.331.332.333.334.335.336.337.338.339."
    "340.341.342.343.344.345.346.347.348.349.350.351.352.353.354.355.356.357.358.359."
    "360.361.362.363.364.365.366.367.368.369.370.371.372.373.374.375.376.377.378.379."
    "380.381.382.383.384.385.386.387.388.389.390.391.392.393.394.395.396.397.398.399."
    "400.401.402.403.404.405.406.407.408.409.410.411.412.413.414.415.416.417.418.419."
    "420.421.422.423.424.425.426.427.428.429.430.431.432.433.434.435.436.437.438.439."
    "440.441.442.443.444.445.446.447.448.449.450.451.452.453.454.455.456.457.458.459."
    "460.461.462.463.464.465.466.467.468.469.470.471.472.473.474.475.476.477.478.479."
    "480.481.482.483.484.485.486.487.488.489.490.491.492.493.494.495.496.497.498.499."
    "500.501.502.503.504.505.506.507.508.509.510.511.512.513.514.515.516.517.518.519."
    "520.521.522.523.524.525.526.527.528.529.530.531.532.533.534.535.536.537.538.539."
    "540.541.542.543.544.545.546.547.548.549.550.551.552.553.554.555.556.557.558.559."
    "560.561.562.563.564.565.566.567.568.569.570.571.572.573.574.575.576.577.578.579."
    "580.581.582.583.584.585.586.587.588.589.590.591.592.593.594.595.596.597.598.599."
    "600.601.602.603.604.605.606.607.608.609.610.611.612.613.614.615.616.617.618.619."
    "620.621.622.623.624.625.626.627.628.629.630.631.632.633.634.635.636.637.638.639."
    "640.641.642.643.644.645.646.647.648.649.650.651.652.653.654.655.656.657.658.659."
    "660.661.662.663.664.665.666.667.668.669.670.671.672.673.674.675.676.677.678.679."
    "680.681.682.683.684.685.686.687.688.689.690.691.692.693.694.695.696.697.698.699."
    "700.701.702.703.704.705.706.707.708.709.710.711.712.713.714.715.716.717.718.719."
    "720.721.722.723.724.725.726.727.728.729.730.731.732.733.734.735.736.737.738.739."
    "740.741.742.743.744.745.746.747.748.749.750.751.752.753.754.755.756.757.758.759."
    "760.761.762.763.764.765.766.767.768.769.770.771.772.773.774.775.776.777.778.779."
    "780.781.782.783.784.785.786.787.788.789.790.791.792.793.794.795.796.797.798.799."
    "800.801.802.803.804.805.806.807.808.809.810.811.812.813.814.815.816.817.818.819."
    "820.821.822.823.824.825.826.827.828.829.830.831.832.833.834.835.836.837.838.839."
    "840.841.842.843.844.845.846.847.848.849.850.851.852.853.854.855.856.857.858.859."
    "860.861.862.863.864.865.866.867.868.869.870.871.872.873.874.875.876.877.878.879."
    "880.881.882.883.884.885.886.887.888.889.890.891.892.893.894.895.896.897.898.899."
    "900.901.902.903.904.905.906.907.908.909.910.911.912.913.914.915.916.917.918.919."
    "920.921.922.923.924.925.926.927.928.929.930.931.932.933.934.935.936.937.938.939."
    "940.941.942.943.944.945.946.947.948.949.950.951.952.953.954.955.956.957.958.959."
    "960.961.962.963.964.965.966.967.968.969.970.971.972.973.974.975.976.977.978.979."
    "980.981.982.983.984.985.986.987.988.989.990.991.992.993.994.995.996.997.998.999.";

void ta_buf_u64(struct ta_buf *b, uint64_t v)
{
    if (ta_likely(b->cap - b->len >= TA_NUM_MAX)) {
        b->len = (size_t)(ta_fmt_u64(b->p + b->len, v) - b->p);
        return;
    }
    char tmp[TA_NUM_MAX];
    ta_buf_put(b, tmp, (size_t)(ta_fmt_u64(tmp, v) - tmp));
}

void ta_buf_i64(struct ta_buf *b, int64_t v)
{
    if (v < 0) {
        ta_buf_char(b, '-');
        ta_buf_u64(b, (uint64_t)0 - (uint64_t)v);
    } else {
        ta_buf_u64(b, (uint64_t)v);
    }
}

void ta_buf_us(struct ta_buf *b, uint64_t ns)
{
    if (ta_likely(b->cap - b->len >= TA_NUM_MAX + 4)) {
        b->len = (size_t)(ta_fmt_us(b->p + b->len, ns) - b->p);
        return;
    }
    char tmp[TA_NUM_MAX + 4];
    ta_buf_put(b, tmp, (size_t)(ta_fmt_us(tmp, ns) - tmp));
}

/* v >= 2^64, finite: d.dddddddddddddddde+N, 17 significant digits (what %.17g gives, which
 * this does without snprintf: exporters may run in a fatal-signal handler). Scaled in long
 * double (a 64-bit mantissa on x86-64: a few roundings stay below the double's last place);
 * a counter of -1e300 was once written as -0 (the cast to uint64_t overflowed). */
static void ta_buf_big(struct ta_buf *b, double v)
{
    long double x = v;
    int e = 16;
    while (x >= 1e117L) {
        x /= 1e100L;
        e += 100;
    }
    while (x >= 1e27L) {
        x /= 1e10L;
        e += 10;
    }
    while (x >= 1e17L) {
        x /= 10;
        e++;
    }
    uint64_t u = (uint64_t)(x + 0.5L);
    if (u >= 100000000000000000ull) {
        u /= 10;
        e++;
    }
    char d[17];
    for (int i = 16; i >= 0; i--) {
        d[i] = (char)('0' + u % 10);
        u /= 10;
    }
    int n = 17;
    while (n > 1 && d[n - 1] == '0')
        n--;
    ta_buf_char(b, d[0]);
    if (n > 1) {
        ta_buf_char(b, '.');
        ta_buf_put(b, d + 1, (size_t)(n - 1));
    }
    ta_buf_put(b, "e+", 2);
    ta_buf_u64(b, (uint64_t)e);
}

void ta_buf_dbl(struct ta_buf *b, double v)
{
    if (v != v || v - v != 0) { /* NaN, inf */
        ta_buf_put(b, "null", 4);
        return;
    }
    if (v > -9e15 && v < 9e15 && v == (double)(int64_t)v) {
        ta_buf_i64(b, (int64_t)v);
        return;
    }
    /* fixed point with up to 6 significant decimals after the point */
    if (v < 0) {
        ta_buf_char(b, '-');
        v = -v;
    }
    if (v >= 18446744073709551616.0) { /* past uint64_t (2^64): 17 digits and exponent */
        ta_buf_big(b, v);
        return;
    }
    if (v >= 9e15) { /* large: integer part is enough (such doubles are integers) */
        ta_buf_u64(b, (uint64_t)v);
        return;
    }
    uint64_t ip = (uint64_t)v;
    double f = v - (double)ip;
    uint64_t fp = (uint64_t)(f * 1e6 + 0.5);
    if (fp >= 1000000) {
        ip++;
        fp -= 1000000;
    }
    ta_buf_u64(b, ip);
    if (fp) {
        char d[7];
        d[0] = '.';
        for (int i = 6; i >= 1; i--) {
            d[i] = (char)('0' + fp % 10);
            fp /= 10;
        }
        int n = 7;
        while (n > 1 && d[n - 1] == '0')
            n--;
        ta_buf_put(b, d, n);
    }
}
