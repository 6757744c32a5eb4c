/**
 * A "billion laughs" YAML document: nine anchors, each a list of nine aliases of the one before,
 * so the last stands for 9^9 strings; `state_dir` aliases it (a value the config checks and names
 * in its error message).
 */
export function yamlAliasBomb(): string {
  const names = 'abcdefghi';
  const lines = [`a: &a [${Array(9).fill('"lol"').join(', ')}]`];
  for (let i = 1; i < names.length; i++) lines.push(`${names[i]}: &${names[i]} [${Array(9).fill(`*${names[i - 1]}`).join(', ')}]`);
  lines.push('state_dir: *i');
  return `${lines.join('\n')}\n`;
}
