using System.Diagnostics;

namespace Shoal.TestKit;

/// <summary>Runs the real docker CLI against a Shoal node's local API socket, with a private config directory.</summary>
public static class DockerCli
{
    /// <summary>Where the CI machine has the docker CLI (28.x).</summary>
    public const string Path = "/usr/local/bin/docker";

    /// <summary>Whether the docker CLI is installed (tests that need it say they skipped when it is not).</summary>
    public static bool IsInstalled => File.Exists(Path);

    /// <summary>Runs <c>docker <paramref name="arguments"/></c> with <c>DOCKER_HOST=unix://<paramref name="socketPath"/></c>.</summary>
    public static async Task<(int ExitCode, string Output, string Error)> RunAsync(string socketPath, string configDirectory, IEnumerable<string> arguments, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var start = new ProcessStartInfo(Path)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["DOCKER_HOST"] = "unix://" + socketPath;
        start.Environment["DOCKER_CONFIG"] = configDirectory;
        start.Environment.Remove("DOCKER_CONTEXT");
        start.Environment.Remove("DOCKER_API_VERSION");
        using var process = Process.Start(start)!;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var limit = timeout ?? TimeSpan.FromSeconds(20);
        deadline.CancelAfter(limit);
        var output = process.StandardOutput.ReadToEndAsync(deadline.Token);
        var error = process.StandardError.ReadToEndAsync(deadline.Token);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill();
            throw new TimeoutException($"docker {string.Join(' ', start.ArgumentList)} did not finish within {limit.TotalSeconds:0} s");
        }

        return (process.ExitCode, await output, await error);
    }
}
