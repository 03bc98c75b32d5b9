namespace Shoal.Cli;

/// <summary>What a command reads and writes besides its arguments: the console and the environment variables.
/// Tests give their own writers and variables.</summary>
internal sealed class CliEnvironment
{
    /// <summary>Standard output.</summary>
    public required TextWriter Out { get; init; }

    /// <summary>Standard error.</summary>
    public required TextWriter Error { get; init; }

    /// <summary>Reads an environment variable (null when unset).</summary>
    public Func<string, string?> Variable { get; init; } = Environment.GetEnvironmentVariable;

    /// <summary>Whether standard output is a terminal (progress displays only then).</summary>
    public bool Interactive { get; init; }

    /// <summary>The process's console and environment.</summary>
    public static CliEnvironment FromConsole() => new()
    {
        Out = Console.Out,
        Error = Console.Error,
        Interactive = !Console.IsOutputRedirected,
    };
}
