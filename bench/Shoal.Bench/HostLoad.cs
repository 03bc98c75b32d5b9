namespace Shoal.Bench;

/// <summary>What the host was doing while a bench ran, for the figures' context.</summary>
internal static class HostLoad
{
    /// <summary>The 1-, 5- and 15-minute load averages from <c>/proc/loadavg</c>, joined by <paramref name="separator"/>.</summary>
    public static string Averages(string separator = " ")
    {
        try
        {
            return string.Join(separator, File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "unknown";
        }
    }
}
