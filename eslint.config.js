// Lint rules for every workspace: typescript-eslint's recommended set plus a
// few rules that keep the code runnable by Node's type stripping.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/node_modules/**', '.build/**', '**/*.gen.ts', 'charts/**', 'docs/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-syntax': [
        'error',
        { selector: 'TSEnumDeclaration', message: 'enums cannot be type-stripped; use a union of string literals' },
        { selector: 'TSModuleDeclaration[kind="namespace"]', message: 'namespaces cannot be type-stripped' },
        { selector: 'TSParameterProperty', message: 'parameter properties cannot be type-stripped' },
      ],
    },
  },
);
