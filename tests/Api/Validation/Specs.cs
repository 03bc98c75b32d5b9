using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Shoal.Api.Validation;

namespace Shoal.Api.Tests.Validation;

/// <summary>Minimal valid specs for the unit tests to break one field at a time, and assertions on the outcome.</summary>
internal static class Specs
{
    public static ServiceSpec Service(string name = "web") => new()
    {
        Annotations = new Annotations { Name = name },
        Replicated = new ReplicatedService { Replicas = 3 },
        Task = new TaskSpec { Container = new ContainerSpec { Image = "nginx:1.25" } },
    };

    public static ContainerSpec Container(this ServiceSpec spec) => spec.Task.Container;

    public static NetworkSpec Network(string name = "backend") => new()
    {
        Annotations = new Annotations { Name = name },
        DriverConfig = new Driver { Name = "overlay" },
    };

    public static SecretSpec Secret(string name = "db", int size = 16) => new()
    {
        Annotations = new Annotations { Name = name },
        Data = ByteString.CopyFrom(new byte[size]),
    };

    public static ConfigSpec Config(string name = "nginx.conf", int size = 16) => new()
    {
        Annotations = new Annotations { Name = name },
        Data = ByteString.CopyFrom(new byte[size]),
    };

    public static Duration Seconds(double seconds) => Duration.FromTimeSpan(TimeSpan.FromSeconds(seconds));

    public static Duration Raw(long seconds, int nanos) => new() { Seconds = seconds, Nanos = nanos };
}

internal static class Expect
{
    public static void Accepted(ValidationResult result) =>
        Assert.True(result.IsValid, "expected the spec to be accepted, got: " + string.Join(" | ", result.Errors));

    /// <summary>Asserts the spec was rejected with an error containing every fragment; returns that error.</summary>
    public static string Rejected(ValidationResult result, params string[] fragments)
    {
        Assert.False(result.IsValid, $"expected the spec to be rejected with an error containing [{string.Join(", ", fragments)}], but it was accepted");
        var match = result.Errors.FirstOrDefault(error => fragments.All(fragment => error.Contains(fragment, StringComparison.Ordinal)));
        Assert.True(match is not null,
            $"expected an error containing [{string.Join(", ", fragments)}], got: {string.Join(" | ", result.Errors)}");
        return match!;
    }
}
