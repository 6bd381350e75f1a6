/** Runnable examples from README.md: {@code mvn -q -pl examples -am compile exec:java}. */
package dev.memwall.examples;
