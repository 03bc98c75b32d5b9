namespace Shoal.Cli.Output;

/// <summary>
/// Docker's tables: the layout Go's <c>tabwriter</c> gives them in the docker CLI (minimum width 10, padding 3,
/// spaces). Every column but the last is padded to its widest cell plus three spaces, and to at least ten; the last
/// column is written as it is.
/// </summary>
internal static class Table
{
    private const int MinimumWidth = 10;
    private const int Padding = 3;

    /// <summary>Writes <paramref name="rows"/> (the header first), one line each.</summary>
    public static void Write(TextWriter output, IReadOnlyList<string[]> rows)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(rows);
        var columns = rows.Count == 0 ? 0 : rows.Max(row => row.Length);
        var widths = new int[columns];
        foreach (var row in rows)
        {
            for (var column = 0; column < row.Length - 1; column++)
            {
                widths[column] = Math.Max(widths[column], Math.Max(MinimumWidth, Width(row[column]) + Padding));
            }
        }

        foreach (var row in rows)
        {
            var line = new System.Text.StringBuilder();
            for (var column = 0; column < row.Length; column++)
            {
                line.Append(row[column]);
                if (column < row.Length - 1)
                {
                    line.Append(' ', widths[column] - Width(row[column]));
                }
            }

            output.WriteLine(line.ToString());
        }
    }

    // tabwriter counts runes, not UTF-16 units.
    private static int Width(string cell) => cell.EnumerateRunes().Count();
}
