using Shoal.Cli.Output;

namespace Shoal.Cli.Tests;

/// <summary>The two displays of a service's progress: lines when redirected, a redrawn block on a terminal.</summary>
public sealed class ServiceProgressDisplayTests
{
    [Fact]
    public async Task Lines_WriteALineOnlyWhenItsTextChanges_AndMessagesAlways()
    {
        using var output = new StringWriter();
        var display = ServiceProgressDisplay.For(new CliEnvironment { Out = output, Error = TextWriter.Null, Interactive = false });

        var result = await display.RunAsync(show =>
        {
            show([new("overall progress", "0 out of 1 tasks"), new("1/1", " "), new("1/1", "starting ", 8, 9)]);
            show([new("1/1", "starting ", 8, 9), new("overall progress", "0 out of 1 tasks")]);
            show([new("1/1", "running  ", 9, 9), new(string.Empty, "job complete")]);
            return Task.FromResult(42);
        });

        Assert.Equal(42, result);
        Assert.Equal("overall progress: 0 out of 1 tasks\n1/1: starting\n1/1: running\njob complete\n", output.ToString());
    }

    [Fact]
    public async Task Live_DrawsEachIdOnce_WithItsLatestTextAndBar()
    {
        using var output = new StringWriter();
        var display = ServiceProgressDisplay.For(new CliEnvironment { Out = output, Error = TextWriter.Null, Interactive = true });

        await display.RunAsync(show =>
        {
            show([new("overall progress", "0 out of 1 tasks"), new("1/1", "starting ", 8, 9)]);
            show([new("1/1", "running  ", 9, 9), new("overall progress", "1 out of 1 tasks"), new("verify", "Service web converged")]);
            return Task.FromResult(0);
        });

        var text = output.ToString();
        Assert.Contains("overall progress: 1 out of 1 tasks", text, StringComparison.Ordinal);
        Assert.Contains("1/1:", text, StringComparison.Ordinal);
        Assert.Contains("running   [" + new string('=', 50) + ">]", text, StringComparison.Ordinal);
        Assert.Contains("verify:", text, StringComparison.Ordinal);
    }
}
