using Shoal.Api.Naming;

namespace Shoal.Api.Tests.Naming;

public class IdentityTests
{
    [Fact]
    public void NewId_Is25LowercaseBase36Characters()
    {
        for (var i = 0; i < 1000; i++)
        {
            var id = Identity.NewId();
            Assert.True(Identity.IsValid(id), $"generated id '{id}' is not 25 chars of [0-9a-z]");
        }
    }

    [Fact]
    public void NewId_DoesNotRepeat()
    {
        var ids = Enumerable.Range(0, 10_000).Select(_ => Identity.NewId()).ToHashSet();
        Assert.Equal(10_000, ids.Count);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("ABCDEFGHIJKLMNOPQRSTUVWXY")]
    [InlineData("abc")]
    [InlineData("abcdefghijklmnopqrstuvwxy-")]
    public void IsValid_RejectsMalformedIds(string? id) => Assert.False(Identity.IsValid(id));
}
