// The lint rule that keeps the dependency direction: the bgp/ and policy/ libraries
// import nothing from the agent (src/), so they stay reusable and testable alone.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/results/**'] },
  {
    // The .js files are the programs that threads and the launcher run (checkJs).
    files: ['**/*.ts', 'src/**/*.js', 'test/**/*.js'],
    languageOptions: { parser: tseslint.parser },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {},
  },
  {
    files: ['bgp/**/*.ts', 'policy/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{
          group: ['**/src/**', '../src/*', '../../src/*', '../../../src/*'],
          message: 'bgp/ and policy/ must not import from src/ (see docs/design.md: dependencies point one way).',
        }],
      }],
    },
  },
  {
    files: ['bgp/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{
          group: ['**/src/**', '../src/*', '../../src/*', '../../../src/*', '**/policy/**', '../policy/*', '../../policy/*'],
          message: 'bgp/ is a standalone library: it imports nothing from src/ or policy/.',
        }],
      }],
    },
  },
);
