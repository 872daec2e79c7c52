"""Staff users administered in the browser: an admin adds a user, the user logs in on a phone, the admin disables
them and the phone's session ends at once; the admin cannot disable themselves."""
from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import login

PHONE = {"width": 390, "height": 844}


def test_admin_adds_a_user_who_logs_in_then_is_disabled(page: Page, browser: Browser, live_url: str) -> None:
    login(page, live_url, "admin")
    page.click("summary:has-text('管理')")
    page.click("a[href='/admin/users']")
    expect(page.locator("h1")).to_have_text("员工用户")
    page.fill("#new-username", "lily")
    page.select_option("#new-role", "engineer")
    page.fill("#new-email", "lily@aftercare.example")
    page.fill("#new-password", "lily-first-pass")
    page.fill("#new-password2", "lily-first-pass")
    page.click("#add button[type=submit]")
    expect(page.locator(".notice.ok")).to_have_text("已添加用户。")
    expect(page.locator("#user-lily")).to_contain_text("工程师")

    phone = browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True).new_page()
    phone.goto(f"{live_url}/login")
    phone.fill("#username", "lily")
    phone.fill("#password", "lily-first-pass")
    phone.click("button[type=submit]")
    phone.wait_for_url(f"{live_url}/")
    expect(phone.locator(".who")).to_contain_text("lily")

    page.reload()
    expect(page.locator("#user-lily")).to_contain_text("1 个会话")
    page.locator("#user-lily summary").click()
    page.locator("#user-lily button:has-text('停用')").click()
    expect(page.locator(".notice.ok")).to_contain_text("已停用用户")

    phone.reload()
    expect(phone).to_have_url(f"{live_url}/login?next=/")  # her session ended with the change
    phone.fill("#username", "lily")
    phone.fill("#password", "lily-first-pass")
    phone.click("button[type=submit]")
    expect(phone.locator(".notice.bad")).to_be_visible()  # and she cannot log in again

    phone.context.close()


def test_the_users_page_fits_a_phone_and_guards_the_admin(browser: Browser, live_url: str) -> None:
    phone = browser.new_context(viewport=PHONE, locale="en", is_mobile=True).new_page()
    login(phone, live_url, "admin")
    phone.goto(f"{live_url}/admin/users?lang=en")
    expect(phone.locator("h1")).to_have_text("Staff users")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.locator("#user-admin summary").click()
    expect(phone.locator("#user-admin button:has-text('Disable')")).to_have_count(0)  # not for oneself
    phone.locator("#user-admin select[name=role]").select_option("engineer")
    phone.locator("#user-admin button:has-text('Save')").click()
    expect(phone.locator(".notice.bad")).to_contain_text("the last admin stays admin")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.context.close()
