from django import forms

from tenants.models import ApiKeyScope, Role


class OrganisationForm(forms.Form):
    name = forms.CharField(label="Organisation name", max_length=120)
    slug = forms.CharField(
        label="Address",
        max_length=40,
        help_text="Lowercase letters, digits and hyphens. Your portal will live at <slug>.<platform>.",
    )


class InviteForm(forms.Form):
    email = forms.EmailField(label="Email address")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class ApiKeyForm(forms.Form):
    name = forms.CharField(label="Key name", max_length=100, help_text="What will use it, e.g. “CI deploys”.")
    role = forms.ChoiceField(choices=[c for c in Role.choices if c[0] != Role.OWNER], initial=Role.ADMIN)
    # Read preselected here (the API and CLI default to write): a key made by hand is most often
    # for a dashboard or a report, and least privilege is the safer thing to paste somewhere.
    scope = forms.ChoiceField(choices=ApiKeyScope.choices, initial=ApiKeyScope.READ)


class RenameForm(forms.Form):
    name = forms.CharField(label="Organisation name", max_length=120)


class ReasonForm(forms.Form):
    reason = forms.CharField(label="Reason", max_length=500, widget=forms.Textarea(attrs={"rows": 3}))


class DeleteConfirmForm(forms.Form):
    confirm = forms.CharField(label="Type the organisation's address to confirm", max_length=64)
