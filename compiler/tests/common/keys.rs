//! Public halves of throw-away test keys (generated for these tests; the
//! private halves were never kept), for inline `key` / `keys` entries.

#![allow(dead_code)]

/// RSA 2048-bit modulus (`n`), exponent `AQAB`.
pub const RSA_N: &str = "yUMCs_AV7Q3PD0S7ikIYAcAcHmAjKeKOZczNEzlLslC-7xRsELzLKUCwkcfNobgx7wNLiwgGqgn1xU1aWmYy3-9Wjd_HCEIuWnOHvjk33RwDvwR3v4LM01aKtmyQF0fCQX04ZpXRF3bkqle8_yOG54F2fkxq-Vv8nlB8QDJr1j1a0x-mGmI37UiLPwUdXmdVg3uSrNOHXJXzJaIhAW-3wbE9H8uEPwEe-_Hi0rZoOgTt-EQxlVe7RVZGpgBhRbRwsXhfpca-GJv-Wydi-bYqmoe-2XcHPQK1AT2WFmXYQneV_R5jUE0by24GkB6oWt2RyJ_PykF2AOdwXPqIWC_57w";
/// RSA 1024-bit modulus: too short to be accepted.
pub const RSA_1024_N: &str = "qnA6ghEbgttYoei3E2VTTGlTxZ87b-9IDxUMxwVb0sNvkZdu4WZZNixkBsPWsjBk8oAut9dV9LDWHuRwW8U1MDqlQAeKJoC-WM1HLFgBOvnZw-rvP00qR1tdcwr1onILUVxCINPLW5goYm8gGvG9z5FgtDD685un_I0McWrcCEs";
/// EC P-256 public point.
pub const EC_X: &str = "qPzVQEc-nMu1HzFS7HPb7akUTdxJNRxtN1xWyGN_b7c";
pub const EC_Y: &str = "_S_RnJFPkmNH-AUBZVgqHY0xch-u4cD8vGGflHidlBY";
/// Ed25519 public key.
pub const ED_X: &str = "31lZ7WPQ8rPcoV7xxn85tMC1iFJKld_ARC-_H0843yU";
/// A made-up Cloudflare Access AUD tag.
pub const AUD: &str = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2";
