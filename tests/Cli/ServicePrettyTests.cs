using Shoal.Cli.Output;
using Shoal.DockerApi.Model;

namespace Shoal.Cli.Tests;

/// <summary><c>service inspect --pretty</c>'s update status, rollout and health check sections, as docker's template lays them out.</summary>
public sealed class ServicePrettyTests
{
    [Fact]
    public void UpdateStatus_ShowsStateStartedAndMessage_AndCompletedOnlyForACompletedUpdate()
    {
        var now = DateTimeOffset.UtcNow;
        var rolledBack = Pretty(Service(new UpdateStatus { State = "rollback_completed", StartedAt = now.AddMinutes(-3), CompletedAt = now.AddMinutes(-2), Message = "rollback completed" }));
        var updated = Pretty(Service(new UpdateStatus { State = "completed", StartedAt = now.AddMinutes(-3), CompletedAt = now.AddMinutes(-2), Message = "update completed" }));

        Assert.Contains("UpdateStatus:\n State:\t\trollback_completed\n Started:\t3 minutes ago\n Message:\trollback completed\nPlacement:\n", rolledBack, StringComparison.Ordinal);
        Assert.Contains("UpdateStatus:\n State:\t\tcompleted\n Started:\t3 minutes ago\n Completed:\t2 minutes ago\n Message:\tupdate completed\n", updated, StringComparison.Ordinal);
    }

    [Fact]
    public void Healthcheck_WithoutATest_AfterThePorts_EndsAtTheTimeout()
    {
        var service = Service(null);
        service.Spec.TaskTemplate.ContainerSpec!.Healthcheck = new HealthConfig { Interval = 1_500_000_000, Timeout = 90_000_000_000 };
        service.Endpoint.Ports = [new PortConfig { Protocol = "tcp", TargetPort = 80, PublishedPort = 8080, PublishMode = "ingress" }];

        var text = Pretty(service);

        Assert.EndsWith(
            "Ports:\n PublishedPort = 8080\n  Protocol = tcp\n  TargetPort = 80\n  PublishMode = ingress \n"
            + " Healthcheck:\n  Interval = 1.5s\n  Retries = 0\n  StartPeriod =\t0s\n  Timeout =\t1m30s\n",
            text,
            StringComparison.Ordinal);
    }

    [Fact]
    public void NoHealthcheck_IsShownAsItsNoneTest_AndNoConfigs_NoSections()
    {
        var service = Service(null);
        service.Spec.TaskTemplate.ContainerSpec!.Healthcheck = new HealthConfig { Test = ["NONE"] };
        service.Spec.UpdateConfig = null;

        var text = Pretty(service);

        Assert.DoesNotContain("UpdateConfig:", text, StringComparison.Ordinal);
        Assert.DoesNotContain("UpdateStatus:", text, StringComparison.Ordinal);
        Assert.EndsWith("  Tests:\n\t Test = NONE \n", text, StringComparison.Ordinal);
    }

    private static Service Service(UpdateStatus? status) => new()
    {
        ID = "abc",
        Spec = new ServiceSpec
        {
            Name = "web",
            TaskTemplate = new TaskSpec { ContainerSpec = new ContainerSpec { Image = "img" } },
            Mode = new ServiceMode { Replicated = new ReplicatedService { Replicas = 1 } },
            UpdateConfig = new UpdateConfig { Parallelism = 1, FailureAction = "pause", Order = "stop-first" },
            EndpointSpec = new EndpointSpec { Mode = "vip" },
        },
        UpdateStatus = status,
    };

    private static string Pretty(Service service)
    {
        using var output = new StringWriter();
        ServicePretty.Write(output, service);
        return output.ToString();
    }
}
