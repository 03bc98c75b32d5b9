using Shoal.Cli.Commands;
using Shoal.DockerApi.Model;

namespace Shoal.Cli.Tests;

/// <summary><c>service update</c>'s edits of the spec it read: removals before additions, keys replaced in place.</summary>
public sealed class ServiceUpdateTests
{
    [Fact]
    public void Env_RemovesByKey_ReplacesInPlace_AppendsNewKeys()
    {
        var spec = new ServiceSpec { TaskTemplate = new TaskSpec { ContainerSpec = new ContainerSpec { Env = ["A=1", "B=2", "C=3", "B=4"] } } };

        ServiceUpdate.Apply(spec, Update(envAdd: ["C=30", "D"], envRemove: ["B"]), name => name == "D" ? "from-shell" : null);

        Assert.Equal(["A=1", "C=30", "D=from-shell"], spec.TaskTemplate.ContainerSpec!.Env!);
    }

    [Fact]
    public void Replicas_OnAGlobalService_IsRefused()
    {
        var spec = new ServiceSpec { Mode = new ServiceMode { Global = new GlobalService() } };

        var error = Assert.Throws<CommandException>(() => ServiceUpdate.Apply(spec, Update(replicas: 3), _ => null));

        Assert.Equal("replicas can only be used with replicated or replicated-job mode", error.Message);
    }

    [Fact]
    public void Force_BumpsTheCounter_SoEveryTaskIsReplaced()
    {
        var spec = new ServiceSpec { TaskTemplate = new TaskSpec { ForceUpdate = 4 } };

        ServiceUpdate.Apply(spec, Update(force: true), _ => null);

        Assert.Equal(5UL, spec.TaskTemplate.ForceUpdate);
    }

    [Theory]
    [InlineData("sleep 100", new[] { "sleep", "100" })]
    [InlineData("sh -c 'echo \"hi there\"; exit 1'", new[] { "sh", "-c", "echo \"hi there\"; exit 1" })]
    [InlineData("  a\\ b \"c\\\"d\"  ''", new[] { "a b", "c\"d", "" })]
    public void Args_AreSplitAsAShellSplitsWords(string text, string[] words) =>
        Assert.Equal(words, ServiceUpdate.SplitWords(text));

    [Fact]
    public void Args_WithAnUnclosedQuote_AreRefused()
    {
        var error = Assert.Throws<CommandException>(() => ServiceUpdate.SplitWords("echo 'oops"));

        Assert.Equal("invalid --args \"echo 'oops\": a quote is not closed", error.Message);
    }

    private static ServiceUpdate Update(ulong? replicas = null, string[]? envAdd = null, string[]? envRemove = null, bool force = false) =>
        new(replicas, Image: null, Args: null, envAdd ?? [], envRemove ?? [], [], [], [], [], force);
}
