/**
 * Benchmarks that put mkwrite beside what a user would otherwise pick, in the same run, and report
 * ratios. Run everything with {@code ./dev bench}; see {@code docs/BENCHMARKS.md}.
 */
package dev.mkwrite.benchmarks;
